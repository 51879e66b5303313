"""Microseconds per access-token verification, rs_guard against baselines from the same run.

For each algorithm (RS256, PS256, RS512, ES256, HS256) the rows are:

* ``signature``: the bare ``cryptography`` (or ``hmac``) check of the same signing input;
* ``floor``: that plus splitting, base64url-decoding and ``json.loads`` of header and
  payload: what no verifier can go under;
* ``pyjwt``: a plain ``jwt.decode`` call with audience and issuer;
* ``rs_guard``: the full check (every rule of the core), token cache off;
* ``rs_guard cached``: a repeated token (cache hit), through ``Guard.authenticate``.

The machine is shared and noisy, so every round times every contender back to back and
the table reports the median over rounds; ratios are taken against ``floor`` in the same
round. Run: ``python benchmarks/verify.py [--rounds N]``.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import jwt
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from rs_guard import Guard, RequestContext
from rs_guard.testing import TokenIssuer

ALGORITHMS = ("RS256", "PS256", "RS512", "ES256", "HS256")


def _b64(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def signature_check(issuer: TokenIssuer, algorithm: str) -> Callable[[bytes, bytes], None]:
    if algorithm == "HS256":
        secret = (issuer.secret or "").encode()

        def check_hmac(msg: bytes, sig: bytes) -> None:
            expected = hmac.new(secret, msg, hashlib.sha256).digest()
            if not hmac.compare_digest(expected, sig):
                raise ValueError("bad signature")

        return check_hmac
    public: Any = issuer.current.private_key.public_key()
    if algorithm == "ES256":

        def check_ec(msg: bytes, sig: bytes) -> None:
            der = encode_dss_signature(
                int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big")
            )
            public.verify(der, msg, ec.ECDSA(hashes.SHA256()))

        return check_ec
    digest = hashes.SHA512() if algorithm == "RS512" else hashes.SHA256()
    pad: Any = (
        padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32)
        if algorithm == "PS256"
        else padding.PKCS1v15()
    )

    def check_rsa(msg: bytes, sig: bytes) -> None:
        public.verify(sig, msg, pad, digest)

    return check_rsa


def contenders(algorithm: str) -> dict[str, Callable[[], Any]]:
    issuer = TokenIssuer(algorithm=algorithm)
    token = issuer.mint(scopes=["read:appointments"])
    check = signature_check(issuer, algorithm)
    head, body, sig = token.split(".")
    signing_input, signature = f"{head}.{body}".encode(), _b64(sig)

    def bare_signature() -> None:
        check(signing_input, signature)

    def floor() -> None:
        h, p, s = token.split(".")
        json.loads(_b64(h))
        json.loads(_b64(p))
        check(f"{h}.{p}".encode(), _b64(s))

    pyjwt_key: Any = (
        issuer.secret if algorithm == "HS256" else issuer.current.private_key.public_key()
    )

    def pyjwt() -> None:
        jwt.decode(
            token, pyjwt_key, algorithms=[algorithm], audience=issuer.audience, issuer=issuer.issuer
        )

    uncached = Guard(issuer.config(token_cache_size=0), transport=issuer.transport())
    cached = Guard(issuer.config(), transport=issuer.transport())
    request = RequestContext("GET", "https://api.example/", [("authorization", f"Bearer {token}")])
    uncached.verify(token)
    cached.authenticate(request)

    def rs_guard() -> None:
        uncached.verify(token)

    def rs_guard_cached() -> None:
        cached.authenticate(request)

    return {
        "signature": bare_signature,
        "floor": floor,
        "pyjwt": pyjwt,
        "rs_guard": rs_guard,
        "rs_guard cached": rs_guard_cached,
    }


def time_one(fn: Callable[[], Any], number: int) -> float:
    start = time.perf_counter()
    for _ in range(number):
        fn()
    return (time.perf_counter() - start) / number * 1e6


def measure(algorithm: str, rounds: int, number: int) -> dict[str, tuple[float, float]]:
    fns = contenders(algorithm)
    samples: dict[str, list[float]] = {name: [] for name in fns}
    ratios: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(rounds):
        round_times = {name: time_one(fn, number) for name, fn in fns.items()}
        for name, value in round_times.items():
            samples[name].append(value)
            ratios[name].append(value / round_times["floor"])
    return {
        name: (statistics.median(samples[name]), statistics.median(ratios[name])) for name in fns
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--number", type=int, default=400)
    args = parser.parse_args()
    print(f"{'alg':6} {'contender':16} {'µs/verify':>10} {'× floor':>8}")
    for algorithm in ALGORITHMS:
        for name, (micros, ratio) in measure(algorithm, args.rounds, args.number).items():
            print(f"{algorithm:6} {name:16} {micros:10.2f} {ratio:8.2f}")
        print()


if __name__ == "__main__":
    main()
