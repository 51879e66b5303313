"""Every row of issue 13 in one run, printed as a markdown ratio table.

    python -m benchmarks.http_all            # full: 5 s x 5 rounds per HTTP row
    python -m benchmarks.http_all --quick    # 1 s x 2 rounds, smaller in-process samples

HTTP rows (``benchmarks/http_load.py``, ``benchmarks/http_flask.py``,
``benchmarks/http_django.py``): uvicorn with uvloop and httptools (or gunicorn for Flask
and Django), one worker pinned to one core, ``wrk -t1 -c32``
pinned to the other; every server stays up for the whole run and the rounds interleave
the rows, so each ratio is taken between rows of the same round, then the median over
rounds is shown. "× CPU" is the ratio of the server's CPU time per request (what one
quiet core would give); "added µs" is the server CPU per request beyond the baseline.

In-process rows: DPoP with a cached token and a fresh ES256 proof per request
(``benchmarks/binding.py``) against the bare ES256 signature check of a proof and the
cached bearer path, measured in the same run; RSS growth of the idiom's server holding
4,096 distinct Auth0-sized cached tokens (``benchmarks/memory.py``).
See ``benchmarks/README.md``.
"""

from __future__ import annotations

import argparse
import math
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

from benchmarks import http_django, http_flask, http_load, memory
from benchmarks.runner import SCOPE, Pinning, RowStats, Target, median, run_rows

GROUPS = ("asgi", "wsgi", "django", "dpop", "memory")


def log(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def _fmt(value: float, spec: str) -> str:
    return "n/a" if math.isnan(value) else format(value, spec)


def http_table(stats: RowStats) -> list[str]:
    lines = [
        "| row | req/s | × baseline req/s | × baseline CPU | server CPU µs/req "
        "| added µs/req | p99 ms | aim (judged on the CPU ratio) |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for target in stats.rows:
        name = target.name
        base = stats.baseline_of(target).name
        aim = ""
        if target.aim is not None:
            against, least = target.aim
            rps = stats.rps_ratio(name, against)
            cpu = stats.cpu_ratio(name, against)
            verdict = "met" if cpu >= least else "not met"
            aim = f"≥ {least:.2f}× {against}: CPU {cpu:.2f} {verdict} (req/s {rps:.2f})"
        label = f"**{name}**" if target.aim else name
        lines.append(
            f"| {label} | {stats.med(name, 'rps'):.0f} | {stats.rps_ratio(name, base):.2f} "
            f"| {stats.cpu_ratio(name, base):.2f} | {_fmt(stats.med(name, 'cpu_us'), '.1f')} "
            f"| {_fmt(stats.added_cpu(name, base), '+.1f')} "
            f"| {stats.med(name, 'p99_ms'):.2f} | {aim} |"
        )
    broken = [t.name for t in stats.rows if any(r.non_2xx for r in stats.samples[t.name])]
    if broken:
        lines.append("")
        lines.append(f"**Non-2xx answers (the row is broken):** {', '.join(broken)}")
    return lines


@contextmanager
def pinned(core: int | None) -> Iterator[None]:
    """Run this process on one core for an in-process measurement."""
    if core is None or not hasattr(os, "sched_setaffinity"):
        yield
        return
    before = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {core})
    try:
        yield
    finally:
        os.sched_setaffinity(0, before)


def dpop_table(rounds: int, requests: int, core: int | None) -> list[str]:
    from benchmarks import binding

    names = ("bearer", "DPoP ES256", "ES256 signature only")
    with pinned(core):
        times = binding.measure(rounds, requests, names)
    bearer, dpop, sig = (times[n] for n in names)
    per_round = list(zip(bearer, dpop, sig, strict=True))
    proof = median([(d - b) / s for b, d, s in per_round])
    limit = median([1.6 * s + b for b, _, s in per_round])
    ratio = median([d / (1.6 * s + b) for b, d, s in per_round])
    verdict = "met" if ratio <= 1.0 else "not met"
    return [
        "| in-process, per request | µs |",
        "| --- | ---: |",
        f"| cached bearer token (Guard.authenticate) | {median(bearer):.1f} |",
        f"| bare ES256 signature check of one proof | {median(sig):.1f} |",
        f"| **DPoP, cached token, fresh ES256 proof** | **{median(dpop):.1f}** |",
        f"| aim: ≤ 1.6 × signature + bearer | {limit:.1f} ({verdict}: {ratio:.2f}× the aim) |",
        f"| DPoP beyond the bearer path, in signature checks | {proof:.2f}× (aim ≤ 1.60) |",
    ]


def memory_table(growth: memory.Growth) -> list[str]:
    mib = 1024 * 1024
    verdict = "met" if growth.cache_on < 16 * mib else "not met"
    return [
        f"| {growth.tokens} distinct tokens of {growth.token_bytes} bytes, once each "
        "| RSS growth |",
        "| --- | ---: |",
        f"| **README idiom, cache on** | **{growth.cache_on / mib:.1f} MiB** "
        f"(aim < 16 MiB: {verdict}) |",
        f"| README idiom, cache off (what the request path leaves anyway) "
        f"| {growth.cache_off / mib:.1f} MiB |",
        f"| the cache itself (difference) | {growth.cache / mib:.1f} MiB, "
        f"{growth.cache / growth.tokens:.0f} bytes per token |",
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1 s x 2 rounds (a smoke run)")
    parser.add_argument("--duration", type=int, help="seconds per HTTP row and round (5)")
    parser.add_argument("--rounds", type=int, help="rounds (5)")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument(
        "--only", action="append", choices=GROUPS, help="run only these groups (repeatable)"
    )
    parser.add_argument(
        "--diagnostic",
        action="store_true",
        help="add the no-op dependency with RSGuard.__call__'s parameters",
    )
    parser.add_argument("--memory-tokens", type=int, default=4096)
    parser.add_argument("--server-cpu", type=int, default=0)
    parser.add_argument("--client-cpu", type=int, default=1)
    parser.add_argument("--no-pin", action="store_true", help="do not use taskset")
    args = parser.parse_args(argv)
    duration = args.duration or (1 if args.quick else 5)
    rounds = args.rounds or (2 if args.quick else 5)
    groups = set(args.only or GROUPS)
    pinning = Pinning(None, None) if args.no_pin else Pinning(args.server_cpu, args.client_cpu)
    if groups & {"asgi", "wsgi", "django"} and shutil.which("wrk") is None:
        print("wrk is not installed: apt-get install -y wrk (or scripts/setup --bench)")
        return 2

    from rs_guard.testing import JWKSServer, TokenIssuer

    issuer = TokenIssuer()
    token = issuer.mint(scopes=[SCOPE], subject="auth0|bench-user")
    out: list[str] = []
    with ExitStack() as stack, tempfile.TemporaryDirectory() as tmp:
        jwks = stack.enter_context(JWKSServer(issuer.jwks))
        rs_env = {
            "RS_GUARD_ISSUER": issuer.issuer,
            "RS_GUARD_AUDIENCE": issuer.audience,
            "RS_GUARD_JWKS_URI": jwks.jwks_uri,
        }
        rows: list[Target] = []
        if "asgi" in groups:
            rows += http_load.targets(rs_env, diagnostic=args.diagnostic)
        if "wsgi" in groups:
            rows += http_flask.targets(rs_env)
        if "django" in groups:
            rows += http_django.targets(rs_env)
        if rows:
            stats = run_rows(
                rows,
                [token],
                rounds=rounds,
                duration=duration,
                connections=args.connections,
                pinning=pinning,
                workdir=Path(tmp),
                progress=log,
            )
            out += [
                f"HTTP: uvicorn --loop uvloop --http httptools (FastAPI) / gunicorn "
                f"{os.environ.get('RS_GUARD_BENCH_WORKER', 'gthread')} (Flask, Django), one worker "
                f"on core {pinning.server}; wrk -t1 -c{args.connections} on core "
                f"{pinning.client}; {duration} s x {rounds} rounds interleaved, medians; "
                "RS256, one token; baseline = the group's unprotected row.",
                "",
                *http_table(stats),
                "",
            ]
        if "dpop" in groups:
            log("DPoP, in process")
            out += [*dpop_table(3 if args.quick else 15, 200 if args.quick else 300,
                                pinning.server), ""]  # fmt: skip
        if "memory" in groups:
            log(f"memory: minting {args.memory_tokens} tokens")
            tokens = memory.auth0_tokens(issuer, args.memory_tokens)
            out += [*memory_table(memory.measure(rs_env, tokens, pinning)), ""]
    print("\n".join(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
