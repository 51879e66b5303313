"""The shared runner of the HTTP benchmarks: servers, ``wrk``, interleaved rounds, medians.

Every row is a :class:`Target`: a server command (uvicorn or gunicorn), its environment
and the tokens its requests carry. :func:`run_rows` starts every row's server once
(pinned to one core with ``taskset``), warms it, then runs ``rounds`` rounds in which
every row is loaded by ``wrk -t1`` (pinned to the other core) back to back, so that a
noisy neighbour hits all rows of a round alike. Each measurement records req/s, wrk's
latency percentiles and the server's CPU time per request (user + system of the server
process and its children, from ``/proc``): what one quiet core would give, and steadier
than req/s when other work shares the machine. :class:`RowStats` turns the samples into
per-round ratios against any other row of the same round, and their medians.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

#: The route every benchmark app serves, and the scope it requires.
PATH = "/hello"
SCOPE = "read:hello"


@dataclass(frozen=True)
class Pinning:
    """Which core the server runs on and which one ``wrk`` runs on (``None``: no pinning)."""

    server: int | None = 0
    client: int | None = 1

    def prefix(self, core: int | None) -> list[str]:
        if core is None or shutil.which("taskset") is None:
            return []
        return ["taskset", "-c", str(core)]


@dataclass
class Target:
    """One row of the table: a server command, its environment, and the tokens to send."""

    name: str
    #: The row every other row of the group is compared with first (``× baseline``).
    group: str
    command: Callable[[int], list[str]]  # port -> argv (without the taskset prefix)
    env: dict[str, str] = field(default_factory=dict)
    #: True for the group's baseline row (ratio 1.00). It is sent the same token as the
    #: others (and ignores it): every row receives the same bytes.
    baseline: bool = False
    #: Distinct valid tokens the row rotates through.
    tokens: int = 1
    #: The issue's aim for this row: (name of the row it is compared with, least ratio).
    aim: tuple[str, float] | None = None
    #: What the row is, in a few words.
    about: str = ""
    #: The row refuses a request without a token (checked before the rounds start).
    protects: bool = False


@dataclass
class Result:
    rps: float
    p50_ms: float
    p99_ms: float
    non_2xx: int
    requests: int
    #: Server CPU time per request (all its processes), NaN when unknown.
    cpu_us: float = float("nan")


# -- processes ---------------------------------------------------------------------------


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process and all its descendants (Linux ``/proc``)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    stack = [pid]
    while stack:
        current = stack.pop()
        try:
            stat = Path(f"/proc/{current}/stat").read_text()
            tasks = list(Path(f"/proc/{current}/task").iterdir())
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()  # fields[0] is the state (field 3)
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14, 15)
        for task in tasks:
            with suppress(OSError):
                stack.extend(int(c) for c in (task / "children").read_text().split())
    return total / ticks


def rss_bytes(pid: int) -> int:
    """Resident set size of one process (``VmRSS`` of ``/proc/PID/status``)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS for {pid}")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass
class Server:
    port: int
    pid: int


@contextmanager
def serve(target: Target, pinning: Pinning = Pinning()) -> Iterator[Server]:
    """Start the target's server on a loopback port, pinned to the server core."""
    port = free_port()
    env = {**os.environ, **target.env, "PYTHONPATH": str(ROOT)}
    # taskset execs the command: the pid is the server's own.
    argv = pinning.prefix(pinning.server) + target.command(port)
    proc = subprocess.Popen(argv, env=env, cwd=ROOT)
    try:
        wait_ready(port, proc)
        yield Server(port, proc.pid)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def wait_ready(port: int, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as conn:
                conn.sendall(
                    f"GET {PATH} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode()
                )
                if conn.recv(64).startswith(b"HTTP/1."):
                    return
        except OSError:
            pass
        time.sleep(0.1)
    raise SystemExit("server did not start")


def status_without_token(port: int) -> int:
    """The status a request without ``Authorization`` gets."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
        conn.sendall(f"GET {PATH} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        return int(conn.recv(64).split(b" ", 2)[1])


def uvicorn_command(port: int) -> list[str]:
    """uvicorn, one worker, uvloop + httptools, the app of ``benchmarks.http_load``."""
    # --host/--port, not --fd: uvicorn treats an inherited fd as a Unix socket and then
    # leaves Nagle on, which costs every response the 40 ms delayed-ACK wait.
    return [
        sys.executable, "-m", "uvicorn", "benchmarks.http_load:make_app", "--factory",
        "--host", "127.0.0.1", "--port", str(port), "--loop", "uvloop", "--http", "httptools",
        "--workers", "1", "--no-access-log", "--log-level", "warning",
    ]  # fmt: skip


# -- load --------------------------------------------------------------------------------

LUA = """
local reqs = {}
local i = 0
for line in io.lines("%(tokens)s") do
  local headers = {}
  if line ~= "" then headers["Authorization"] = "Bearer " .. line end
  reqs[#reqs + 1] = wrk.format("GET", "%(path)s", headers)
end
request = function()
  i = i %% #reqs + 1
  return reqs[i]
end
"""


def write_script(directory: Path, name: str, tokens: Sequence[str]) -> Path:
    token_file = directory / f"{name}.tokens"
    token_file.write_text("\n".join(tokens) + "\n" if tokens else "\n")
    script = directory / f"{name}.lua"
    script.write_text(LUA % {"tokens": token_file, "path": PATH})
    return script


def _ms(text: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", text).groups()  # type: ignore[union-attr]
    return float(number) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def run_wrk(
    server: Server, script: Path, duration: int, connections: int, pinning: Pinning = Pinning()
) -> Result:
    """Load one server for ``duration`` seconds; its CPU time is read before and after."""
    cpu_before = cpu_seconds(server.pid)
    out = subprocess.run(
        [*pinning.prefix(pinning.client), "wrk", "-t1", f"-c{connections}", f"-d{duration}s",
         "--latency", "-s", str(script), f"http://127.0.0.1:{server.port}{PATH}"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    cpu = cpu_seconds(server.pid) - cpu_before

    def grab(pattern: str) -> str:
        match = re.search(pattern, out)
        if match is None:
            raise RuntimeError(f"unexpected wrk output:\n{out}")
        return match.group(1)

    count = int(grab(r"(\d+) requests in"))
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    return Result(
        rps=float(grab(r"Requests/sec:\s+([\d.]+)")),
        p50_ms=_ms(grab(r"\s50%\s+(\S+)")),
        p99_ms=_ms(grab(r"\s99%\s+(\S+)")),
        non_2xx=int(bad.group(1)) if bad else 0,
        requests=count,
        cpu_us=cpu * 1e6 / count if count else float("nan"),
    )


# -- rounds --------------------------------------------------------------------------------


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


@dataclass
class RowStats:
    """The samples of every row, round by round (index ``i`` of each list is round ``i``)."""

    rows: list[Target]
    samples: dict[str, list[Result]]

    def baseline_of(self, target: Target) -> Target:
        return next(t for t in self.rows if t.group == target.group and t.baseline)

    def rps_ratio(self, name: str, against: str) -> float:
        """Median over rounds of req/s(name) / req/s(against), same round."""
        pairs = zip(self.samples[name], self.samples[against], strict=True)
        return median([a.rps / b.rps for a, b in pairs])

    def cpu_ratio(self, name: str, against: str) -> float:
        """Median over rounds of CPU/req(against) / CPU/req(name): the quiet-core ratio."""
        pairs = zip(self.samples[name], self.samples[against], strict=True)
        return median([b.cpu_us / a.cpu_us for a, b in pairs])

    def added_cpu(self, name: str, against: str) -> float:
        """Median over rounds of the server CPU µs per request added to ``against``."""
        pairs = zip(self.samples[name], self.samples[against], strict=True)
        return median([a.cpu_us - b.cpu_us for a, b in pairs])

    def med(self, name: str, attr: str) -> float:
        return median([getattr(r, attr) for r in self.samples[name]])


def run_rows(
    rows: list[Target],
    tokens: Sequence[str],
    *,
    rounds: int,
    duration: int,
    connections: int,
    pinning: Pinning,
    workdir: Path,
    progress: Callable[[str], None] = lambda _: None,
) -> RowStats:
    """Start every row's server, warm it, then run the interleaved rounds."""
    scripts = {
        t.name: write_script(workdir, f"row{i}", tokens[: max(t.tokens, 1)])
        for i, t in enumerate(rows)
    }
    samples: dict[str, list[Result]] = {t.name: [] for t in rows}
    with ExitStack() as stack:
        servers = {}
        for t in rows:
            progress(f"starting {t.name}")
            servers[t.name] = server = stack.enter_context(serve(t, pinning))
            if t.protects and status_without_token(server.port) not in (401, 403):
                raise SystemExit(f"{t.name}: a request without a token was not refused")
        for t in rows:  # warm-up: first key fetch, imports, caches
            run_wrk(servers[t.name], scripts[t.name], 1, connections, pinning)
        for index in range(rounds):
            for t in rows:
                result = run_wrk(servers[t.name], scripts[t.name], duration, connections, pinning)
                samples[t.name].append(result)
            progress(f"round {index + 1}/{rounds} done")
    return RowStats(rows, samples)
