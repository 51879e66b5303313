"""Microseconds that proof of possession adds to one request, against a plain bearer request.

Every contender is ``Guard.authenticate`` on a token already in the verified-token cache
(the common case: a client reuses its token), so the difference is the binding check:

* ``bearer``: an unbound token, no proof-of-possession settings (the baseline);
* ``mTLS (TLS layer)``: a certificate-bound token and the DER certificate in the request
  (RFC 8705: SHA-256, base64url, constant-time compare);
* ``mTLS (nginx header)``: the same certificate forwarded by a trusted proxy as
  URL-encoded PEM (parsed once per distinct header value, then cached);
* ``DPoP <alg>``: a DPoP-bound token and a fresh proof per request (RFC 9449: parsing,
  the proof's signature, htm/htu/iat/ath/jkt, the in-memory replay store);
* ``DPoP ES256 + nonce``: the same with server nonces (two HMACs more);
* ``ES256 signature only``: the bare ``cryptography`` check of one proof's signature
  (what no DPoP verifier can go under), for scale; its "added" column is meaningless.

The machine is shared and noisy: each round times every contender back to back on the
same number of requests, and the table reports medians over rounds; "added" is the
median of the per-round differences to ``bearer``. Run:
``python benchmarks/binding.py [--rounds N] [--requests N]``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

_HERE = Path(__file__).resolve().parent
# Run as a script, this folder comes first on sys.path; keep only the project root, so
# that no sibling module can shadow a standard-library one.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
sys.path.insert(0, str(_HERE.parent))

from jwt.algorithms import get_default_algorithms  # noqa: E402

from rs_guard import Guard, RequestContext  # noqa: E402
from rs_guard._jose import b64url_decode  # noqa: E402
from rs_guard.config import DPoPOptions, ProofOfPossession  # noqa: E402
from rs_guard.testing import TokenIssuer  # noqa: E402
from rs_guard.testing.pop import CertificateAuthority, DPoPKey  # noqa: E402

URL = "https://api.example.com/appointments"
ALGS = get_default_algorithms()

#: A contender: prepares the requests of one round (untimed), returns them.
Prepare = Callable[[int], list[Any]]


class _SignatureOnly:
    """The floor: verify the signature of a proof already split, nothing else."""

    def __init__(self, key: DPoPKey) -> None:
        self.public = key.private_key.public_key()
        self.algorithm = ALGS["ES256"]

    def authenticate(self, item: tuple[bytes, bytes]) -> None:
        if not self.algorithm.verify(item[0], self.public, item[1]):
            raise ValueError("bad signature")


def contenders(issuer: TokenIssuer) -> dict[str, tuple[Any, Prepare]]:
    transport = issuer.transport()
    out: dict[str, tuple[Any, Prepare]] = {}

    plain = Guard(issuer.config(), transport=transport)
    bearer_token = issuer.mint()
    bearer_ctx = RequestContext("GET", URL, [("authorization", f"Bearer {bearer_token}")])
    out["bearer"] = (plain, lambda n: [bearer_ctx] * n)

    cert = CertificateAuthority().client_cert("bench")
    mtls = Guard(
        issuer.config(
            proof_of_possession=ProofOfPossession("mtls", required=True),
            client_cert_header="X-SSL-Client-Cert",
        ),
        transport=transport,
    )
    bound = issuer.mint(cnf=cert.cnf)
    tls_ctx = RequestContext(
        "GET", URL, [("authorization", f"Bearer {bound}")], client_cert=cert.der, peer="10.0.0.9"
    )
    header_ctx = RequestContext(
        "GET",
        URL,
        [("authorization", f"Bearer {bound}"), ("x-ssl-client-cert", cert.escaped)],
        peer="127.0.0.1",
    )
    out["mTLS (TLS layer)"] = (mtls, lambda n: [tls_ctx] * n)
    out["mTLS (nginx header)"] = (mtls, lambda n: [header_ctx] * n)

    def dpop(guard: Guard, key: DPoPKey, nonce: Callable[[], str | None]) -> Prepare:
        token = issuer.mint(cnf=key.cnf)

        def prepare(n: int) -> list[RequestContext]:
            value = nonce()
            return [
                RequestContext(
                    "GET",
                    URL,
                    [
                        ("authorization", f"DPoP {token}"),
                        ("dpop", key.proof("GET", URL, access_token=token, nonce=value)),
                    ],
                )
                for _ in range(n)
            ]

        return prepare

    dpop_guard = Guard(
        issuer.config(proof_of_possession=ProofOfPossession("dpop")), transport=transport
    )
    for alg in ("ES256", "EdDSA", "RS256"):
        out[f"DPoP {alg}"] = (dpop_guard, dpop(dpop_guard, DPoPKey(alg), lambda: None))

    nonce_guard = Guard(
        issuer.config(
            proof_of_possession=ProofOfPossession("dpop"),
            dpop=DPoPOptions(nonce=True, nonce_secret="benchmark nonce secret"),
        ),
        transport=transport,
    )
    nonces = nonce_guard.binding.nonces  # type: ignore[attr-defined]
    out["DPoP ES256 + nonce"] = (
        nonce_guard,
        dpop(nonce_guard, DPoPKey("ES256"), lambda: nonces.current(time.time())),
    )
    floor_key = DPoPKey("ES256")

    def signatures(n: int) -> list[tuple[bytes, bytes]]:
        items = []
        for _ in range(n):
            head, body, sig = floor_key.proof("GET", URL).split(".")
            items.append((f"{head}.{body}".encode(), b64url_decode(sig)))
        return items

    out["ES256 signature only"] = (_SignatureOnly(floor_key), signatures)
    return out


def measure(
    rounds: int, requests: int, names: tuple[str, ...] | None = None
) -> dict[str, list[float]]:
    """µs per request of each contender (all, or ``names``), one value per round."""
    table = contenders(TokenIssuer())
    if names is not None:
        table = {name: table[name] for name in names}
    for guard, prepare in table.values():  # warm: keys fetched, tokens cached, caches filled
        for ctx in prepare(3):
            guard.authenticate(ctx)
    timings: dict[str, list[float]] = {name: [] for name in table}
    for _ in range(rounds):
        for name, (guard, prepare) in table.items():
            batch = prepare(requests)
            authenticate = guard.authenticate
            start = time.perf_counter()
            for ctx in batch:
                authenticate(ctx)
            timings[name].append((time.perf_counter() - start) / requests * 1e6)
    return timings


def run(rounds: int, requests: int) -> None:
    timings = measure(rounds, requests)
    base = timings["bearer"]
    print(f"{'contender':<22}{'µs/request':>12}{'added µs':>10}   (median of {rounds} rounds)")
    for name, values in timings.items():
        added = statistics.median(v - b for v, b in zip(values, base, strict=True))
        print(f"{name:<22}{statistics.median(values):>12.1f}{added:>10.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--requests", type=int, default=300)
    args = parser.parse_args()
    run(args.rounds, args.requests)


if __name__ == "__main__":
    main()
