"""Where a row's server CPU goes: py-spy on the running server under wrk load.

Starts one row of ``benchmarks/http_load.py`` in uvicorn exactly as ``http_all`` does
(pinned to the server core), loads it with ``wrk`` (pinned to the other core) and
samples it with ``py-spy record --nonblocking`` (also on the client core) for the same
seconds. Samples are aggregated by function; each function's share of the samples,
times the server's CPU µs per request measured in the same window, gives µs per
request, inclusive (the function and what it calls) and self. Needs ``py-spy``
(``pip install py-spy``) and the right to ptrace the server (root, or
``kernel.yama.ptrace_scope=0``).

    python -m benchmarks.profile_server --app idiom [--cache off] [--seconds 10]
    python -m benchmarks.profile_server --app noop_dep --top 40 --match fastapi/
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import tempfile
from collections import Counter
from contextlib import ExitStack
from pathlib import Path

from benchmarks.http_load import VARIANTS
from benchmarks.runner import (
    SCOPE,
    Pinning,
    Target,
    run_wrk,
    serve,
    uvicorn_command,
    write_script,
)

_FRAME = re.compile(r"(?P<func>.*?) \((?P<file>[^()]*?)(?::\d+)?\)$")


def short(frame: str) -> str:
    """``function (path/to/file.py:12)`` -> ``package/file.py:function``."""
    match = _FRAME.match(frame)
    if match is None:
        return frame
    path = match["file"]
    for marker in ("site-packages/", "/lib/python3", "/work/wt/"):
        if marker in path:
            path = path.split(marker, 1)[1]
    parts = path.split("/")
    return f"{'/'.join(parts[-2:])}:{match['func']}"


def aggregate(raw: str) -> tuple[Counter[str], Counter[str], int]:
    """Inclusive and self sample counts per function, and the total, from collapsed stacks."""
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    total = 0
    for line in raw.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [short(f) for f in stack.split(";")]
        frames = [f for f in frames if not f.startswith(("process ", "thread "))]
        if not frames:
            continue
        total += count
        for name in set(frames):
            inclusive[name] += count
        own[frames[-1]] += count
    return inclusive, own, total


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--app", choices=VARIANTS, default="idiom")
    parser.add_argument("--cache", choices=("on", "off"), default="on")
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--rate", type=int, default=250, help="py-spy samples per second")
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument("--match", default="", help="only functions whose name contains this")
    parser.add_argument("--save", type=Path, help="also keep the collapsed stacks here")
    args = parser.parse_args(argv)
    if shutil.which("py-spy") is None or shutil.which("wrk") is None:
        print("needs py-spy (pip install py-spy) and wrk (apt-get install -y wrk)")
        return 2

    from rs_guard.testing import JWKSServer, TokenIssuer

    issuer = TokenIssuer()
    token = issuer.mint(scopes=[SCOPE], subject="auth0|bench-user")
    pinning = Pinning()
    with ExitStack() as stack, tempfile.TemporaryDirectory() as tmp:
        jwks = stack.enter_context(JWKSServer(issuer.jwks))
        env = {
            "RS_GUARD_ISSUER": issuer.issuer,
            "RS_GUARD_AUDIENCE": issuer.audience,
            "RS_GUARD_JWKS_URI": jwks.jwks_uri,
            "RS_GUARD_BENCH_APP": args.app,
        }
        if args.cache == "off":
            env["RS_GUARD_TOKEN_CACHE"] = "0"
        server = stack.enter_context(serve(Target(args.app, "profile", uvicorn_command, env)))
        script = write_script(Path(tmp), "profile", [token])
        run_wrk(server, script, 2, 32, pinning)  # warm-up
        out = Path(tmp) / "stacks.txt"
        spy = subprocess.Popen(
            [*pinning.prefix(pinning.client), "py-spy", "record", "--pid", str(server.pid),
             "--format", "raw", "--function", "--nonblocking", "--rate", str(args.rate),
             "--duration", str(args.seconds + 1), "--output", str(out)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        result = run_wrk(server, script, args.seconds, 32, pinning)
        spy.wait(timeout=60)
        raw = out.read_text()
        if args.save:
            args.save.write_text(raw)
    inclusive, own, total = aggregate(raw)
    cpu = result.cpu_us
    print(
        f"{args.app}, cache {args.cache}: {result.rps:.0f} req/s, {cpu:.1f} µs server CPU per "
        f"request, {total} samples ({result.non_2xx} non-2xx)"
    )
    print(f"{'incl µs/req':>11} {'self µs/req':>11}  function")
    for name, count in inclusive.most_common():
        if args.match not in name:
            continue
        if args.top <= 0:
            break
        args.top -= 1
        print(f"{count / total * cpu:11.2f} {own[name] / total * cpu:11.2f}  {name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
