"""The extra cost of a nested JWE access token per request (token_encryption).

Rows, microseconds per verification, token cache off (every request pays in full):

* ``jws``: ``Guard.verify`` of a signed RS256 access token;
* ``nested jwe``: ``Guard.verify`` of the same token encrypted (RSA-OAEP-256 + A256GCM)
  to the API's 2048-bit key, as Auth0 sends it with token_encryption on;
* ``decrypt only``: joserfc's ``decrypt_compact`` of that JWE alone.

The machine is shared and noisy: every round times each contender back to back (order
alternating between rounds) and the table reports medians over rounds, plus the median
of the per-round difference ``nested jwe - jws``. With the cache on (the default), a
repeated token is decrypted once: the cost is per distinct token, not per request.
Run: ``python benchmarks/jwe.py [--rounds N] [--per-round N]``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from joserfc import jwe
from joserfc.jwk import RSAKey

from rs_guard import Guard
from rs_guard.config import TokenEncryption
from rs_guard.testing import TokenIssuer


def timed(fn: Callable[[], object], n: int) -> float:
    """Microseconds per call over ``n`` calls."""
    start = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - start) / n * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--per-round", type=int, default=200)
    args = parser.parse_args()

    clock = time.time
    issuer = TokenIssuer(algorithm="RS256", clock=clock)
    enc_key = RSAKey.generate_key(2048)
    private_pem = enc_key.as_pem(private=True).decode()
    registry = jwe.JWERegistry(algorithms=["RSA-OAEP-256", "A256GCM"])

    inner = issuer.mint(scopes=["read:appointments", "write:appointments"])
    outer = jwe.encrypt_compact(
        {"alg": "RSA-OAEP-256", "enc": "A256GCM", "kid": enc_key.thumbprint(), "cty": "JWT"},
        inner,
        RSAKey.import_key(enc_key.as_pem(private=False)),
        registry=registry,
    )
    plain = Guard(issuer.config(token_cache_size=0), transport=issuer.transport(), clock=clock)
    encrypted = Guard(
        issuer.config(
            token_cache_size=0,
            token_encryption=TokenEncryption(decryption_keys=(private_pem,)),
        ),
        transport=issuer.transport(),
        clock=clock,
    )
    private = RSAKey.import_key(private_pem)
    contenders: dict[str, Callable[[], object]] = {
        "jws": lambda: plain.verify(inner),
        "nested jwe": lambda: encrypted.verify(outer),
        "decrypt only": lambda: jwe.decrypt_compact(outer, private, registry=registry),
    }
    for fn in contenders.values():  # warm: keys fetched, code paths hot
        for _ in range(20):
            fn()

    results: dict[str, list[float]] = {name: [] for name in contenders}
    extra: list[float] = []
    names = list(contenders)
    for round_no in range(args.rounds):
        order = names if round_no % 2 == 0 else names[::-1]
        this_round = {name: timed(contenders[name], args.per_round) for name in order}
        for name, value in this_round.items():
            results[name].append(value)
        extra.append(this_round["nested jwe"] - this_round["jws"])

    print(f"token: {len(inner)} bytes signed, {len(outer)} bytes encrypted")
    print(f"{args.rounds} rounds x {args.per_round} verifications, cache off, medians")
    print(f"{'contender':<14} {'us/verify':>10}")
    for name, values in results.items():
        print(f"{name:<14} {statistics.median(values):>10.1f}")
    jws = statistics.median(results["jws"])
    print(
        f"extra per request for a nested JWE: {statistics.median(extra):.1f} us "
        f"({statistics.median(results['nested jwe']) / jws:.1f}x the JWS verification)"
    )
    plain.close()
    encrypted.close()


if __name__ == "__main__":
    main()
