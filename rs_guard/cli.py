"""The ``rs-guard`` command line: ``demo``, ``inspect``, ``check-config``."""

from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="rs-guard", description="rs_guard tools")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("demo", help="see rs_guard protect an API (embedded issuer, no network)")
    args = parser.parse_args(argv)
    if args.command == "demo":
        print("rs-guard demo: not yet available (it arrives with the developer-experience work)")
        return 0
    return 2  # pragma: no cover


if __name__ == "__main__":
    sys.exit(main())
