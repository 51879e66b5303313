"""Instructions per verification, counted by valgrind's callgrind: the noise-free companion
of ``benchmarks/verify.py``.

Wall-clock time on a shared virtual machine wanders by a factor of two from run to run;
instruction counts do not (the same binary, inputs and environment give the same count).
For each algorithm and contender of ``verify.py`` this runs the contender ``--calls`` times
under callgrind and once with no calls, and prints the difference per call, with the
ratio to the ``floor`` contender (split, base64url, ``json.loads`` and the signature).
The keys are made once and loaded from a file by every run, so key generation (whose cost
is random) is the same in both runs and cancels out. Needs ``valgrind`` (Debian package).

    python benchmarks/verify_instructions.py [--calls 300] [--alg RS256 ...]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CONTENDERS = ("signature", "floor", "pyjwt", "rs_guard", "rs_guard cached")
ALGORITHMS = ("RS256", "PS256", "RS512", "ES256", "HS256")

# The program run under callgrind: fixed keys from KEYS_DIR, then N calls of one contender.
CHILD = """
import pickle, sys
sys.path.insert(0, {root!r})
import rs_guard.testing.issuer as issuer_module
import benchmarks.verify as bench
from cryptography.hazmat.primitives.serialization import load_pem_private_key
pems = pickle.load(open({keys!r}, "rb"))
keys = {{alg: issuer_module.IssuerKey("bench-" + alg, alg, load_pem_private_key(pem, None))
        for alg, pem in pems.items()}}
issuer_module.generate_key = lambda alg, kid=None, **kw: keys[alg]
bench.TokenIssuer = issuer_module.TokenIssuer
algorithm, name, calls = sys.argv[1], sys.argv[2], int(sys.argv[3])
if algorithm == "HS256":
    original = issuer_module.TokenIssuer.__init__
    def fixed_secret(self, *a, **kw):
        kw["secret"] = "0123456789abcdef0123456789abcdef"
        original(self, *a, **kw)
    issuer_module.TokenIssuer.__init__ = fixed_secret
fn = bench.contenders(algorithm)[name]
for _ in range(calls):
    fn()
"""


def make_keys(path: Path) -> None:
    import pickle

    sys.path.insert(0, str(ROOT))
    from cryptography.hazmat.primitives.serialization import (
        Encoding,
        NoEncryption,
        PrivateFormat,
    )

    from rs_guard.testing.issuer import generate_key

    pems = {
        alg: generate_key(alg).private_key.private_bytes(
            Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()
        )
        for alg in ALGORITHMS
        if alg != "HS256"
    }
    path.write_bytes(pickle.dumps(pems))


def instructions(script: Path, algorithm: str, name: str, calls: int) -> int:
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    result = subprocess.run(
        [
            "valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null",
            sys.executable, str(script), algorithm, name, str(calls),
        ],
        capture_output=True, text=True, env=env, check=True,
    )  # fmt: skip
    match = re.search(r"Collected : (\d+)", result.stderr)
    if match is None:
        raise SystemExit(f"callgrind printed no count:\n{result.stderr[-2000:]}")
    return int(match.group(1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--alg", action="append", choices=ALGORITHMS)
    args = parser.parse_args()
    if shutil.which("valgrind") is None:
        raise SystemExit("valgrind is not installed (apt-get install valgrind)")
    with tempfile.TemporaryDirectory() as tmp:
        keys = Path(tmp) / "keys.pickle"
        make_keys(keys)
        script = Path(tmp) / "child.py"
        script.write_text(CHILD.format(root=str(ROOT), keys=str(keys)))
        print(f"{'alg':6} {'contender':16} {'instructions':>12} {'× floor':>8}")
        for algorithm in args.alg or ALGORITHMS:
            per_call: dict[str, float] = {}
            for name in CONTENDERS:
                base = instructions(script, algorithm, name, 0)
                loaded = instructions(script, algorithm, name, args.calls)
                per_call[name] = (loaded - base) / args.calls
            for name, count in per_call.items():
                ratio = count / per_call["floor"]
                print(f"{algorithm:6} {name:16} {count:12.0f} {ratio:8.2f}")
            print()


if __name__ == "__main__":
    main()
