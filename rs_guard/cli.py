"""The ``rs-guard`` command line: ``demo``, ``inspect``, ``check-config``, ``settings``.

Exit codes follow the usual convention: 0 when all is well (the token is accepted, the
settings work, the demo behaved), 1 when something was refused or failed, 2 for a usage
error (bad arguments, settings that cannot be built).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TextIO

import httpx

from . import __version__
from ._jose import JOSEError
from .errors import ConfigError
from .loaders import load_config

if TYPE_CHECKING:
    from .requirements import Requirement

__all__ = ["main"]

_SETTINGS_ENV = ("RS_GUARD_CONFIG", "RS_GUARD_ISSUER", "RS_GUARD_DOMAIN")
_OVERRIDES = {
    "issuer": "issuer",
    "audience": "audience",
    "jwks_uri": "jwks_uri",
    "algorithm": "algorithm",
    "dialect": "token_dialect",
}
EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def _settings_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group(
        "settings",
        "read like the middleware reads them: RS_GUARD_CONFIG (a resource-server JSON file), "
        "then RS_GUARD_* variables, then these options",
    )
    group.add_argument(
        "--config", metavar="FILE", help="resource-server JSON (Management API shape)"
    )
    group.add_argument("--issuer", help="expected iss, e.g. https://TENANT.auth0.com/")
    group.add_argument("--audience", help="the API identifier expected in aud")
    group.add_argument("--jwks-uri", dest="jwks_uri", help="where the keys are")
    group.add_argument("--algorithm", help="RS256 (default), RS512, PS256, ES256, EdDSA, HS256")
    group.add_argument("--dialect", help="access_token, access_token_authz, rfc9068_profile, ...")
    parser.add_argument("--json", action="store_true", help="machine-readable output")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rs-guard",
        description="rs_guard tools: see it work, explain a token, check your settings.",
        epilog="exit codes: 0 ok, 1 refused or failed, 2 usage error",
    )
    parser.add_argument("--version", action="version", version=f"rs_guard {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    demo = sub.add_parser(
        "demo",
        help="see rs_guard protect an API (embedded issuer, no account, no network)",
        description="Start an embedded issuer and the example FastAPI app on 127.0.0.1 and "
        "walk through real requests. Exit 0 only when every step behaved as expected.",
    )
    demo.add_argument(
        "--serve",
        action="store_true",
        help="keep the issuer and the API running and print curl commands (Ctrl-C stops)",
    )
    demo.add_argument("--port", type=int, default=0, help="API port with --serve (default: free)")

    inspect = sub.add_parser(
        "inspect",
        help="decode a token and explain every check, as the middleware would decide",
        description="Decode TOKEN (header and claims, times made human) and, given settings, "
        "run every check the middleware makes, reporting each pass and failure. The token is "
        "never sent anywhere; only the configured key URL is fetched.",
    )
    inspect.add_argument(
        "token",
        nargs="?",
        default="-",
        help="the token, or - (the default) to read it from standard input, which keeps it "
        "out of the shell history and the process list",
    )
    inspect.add_argument(
        "--scope",
        action="append",
        default=[],
        metavar="SCOPE",
        help="a scope the route requires (repeat it, or separate scopes with spaces); "
        "the verdict then includes the route's check",
    )
    inspect.add_argument(
        "--acr-values",
        action="append",
        default=[],
        metavar="ACR",
        help="an acr value the route accepts (step-up, RFC 9470; repeat it, or separate "
        "values with spaces): the acr check",
    )
    inspect.add_argument(
        "--max-age",
        type=int,
        metavar="SECONDS",
        help="how recent the user's authentication must be (RFC 9470): the auth_time check, "
        "with the configured leeway",
    )
    inspect.add_argument(
        "--authorization-details",
        metavar="JSON",
        help='the authorization_details the route requires (RFC 9396): {"type": ...} or a '
        "list of them",
    )
    _settings_arguments(inspect)

    check = sub.add_parser(
        "check-config",
        help="validate the settings and reach the JWKS URL",
        description="Build the settings as the middleware would, fetch each issuer's key set "
        "and report the keys, algorithms and cache headers found.",
    )
    _settings_arguments(check)

    table = sub.add_parser(
        "settings",
        help="list the RS_GUARD_* settings and which of them are set",
        description="Every RS_GUARD_* setting with its GuardConfig field, default and meaning; "
        "the ones set in the environment are marked (their values are never printed).",
    )
    table.add_argument(
        "--markdown", action="store_true", help="the reference table of docs/settings.md"
    )
    return parser


def _environ(args: argparse.Namespace, environ: Mapping[str, str]) -> dict[str, str]:
    env = dict(environ)
    if getattr(args, "config", None):
        env["RS_GUARD_CONFIG"] = args.config
    return env


def _overrides(args: argparse.Namespace) -> dict[str, Any]:
    return {
        target: getattr(args, name)
        for name, target in _OVERRIDES.items()
        if getattr(args, name, None)
    }


def _has_settings(args: argparse.Namespace, env: Mapping[str, str]) -> bool:
    return bool(_overrides(args)) or any(env.get(name) for name in _SETTINGS_ENV)


def _read_token(source: str, stdin: TextIO) -> str:
    raw = stdin.read() if source == "-" else source
    token = raw.strip()
    if token[:7].lower() == "bearer " or token[:5].lower() == "dpop ":
        token = token.split(None, 1)[1].strip() if " " in token else ""
    return token


def _print_json(data: Any, out: TextIO) -> None:
    out.write(json.dumps(data, indent=2, sort_keys=False, default=str) + "\n")


_MARK = {"pass": "ok  ", "fail": "FAIL", "skip": "--  "}


def _inspect(
    args: argparse.Namespace,
    env: Mapping[str, str],
    out: TextIO,
    err: TextIO,
    stdin: TextIO,
    clock: Callable[[], float],
    transport: httpx.BaseTransport | None,
) -> int:
    from .diagnose import decode_unverified, explain, times_of
    from .hints import opaque_token_hint

    token = _read_token(args.token, stdin)
    if not token:
        err.write("rs-guard inspect: no token given (pass it as an argument or on stdin)\n")
        return EXIT_USAGE
    config = None
    if _has_settings(args, env):
        try:
            config = load_config(env, **_overrides(args))
        except ConfigError as exc:
            err.write(f"rs-guard inspect: invalid settings: {exc}\n")
            return EXIT_USAGE
    now = clock()
    if config is None:
        try:
            header, claims = decode_unverified(token)
        except JOSEError as exc:
            hint = opaque_token_hint(token, None)
            if args.json:
                _print_json(
                    {"error": f"not a compact JWS: {exc}", "hints": [hint] if hint else []}, out
                )
            else:
                out.write(f"not a compact JWS: {exc}\n")
                if hint:
                    out.write(f"hint: {hint}\n")
            return EXIT_FAILED
        data = {"header": header, "claims": claims, "times": times_of(claims, now), "checks": []}
        if args.json:
            _print_json({**data, "verdict": None}, out)
        else:
            _print_decoded(header, claims, now, out)
            out.write(
                "\nno settings given: decoded only, nothing verified "
                "(use --config, RS_GUARD_* or --issuer/--audience)\n"
            )
        return EXIT_OK
    scopes = [name for value in args.scope for name in value.split(" ") if name]
    try:
        route = _route(args)
    except ValueError as exc:
        err.write(f"rs-guard inspect: {exc}\n")
        return EXIT_USAGE
    explanation = explain(
        token, config, clock=clock, transport=transport, required_scopes=scopes, route=route
    )
    if args.json:
        _print_json(explanation.to_dict(), out)
    else:
        if explanation.header is not None and explanation.claims is not None:
            _print_decoded(explanation.header, explanation.claims, now, out)
            out.write("\n")
        out.write("checks:\n")
        width = max(len(c.name) for c in explanation.checks)
        for check in explanation.checks:
            reason = f" [{check.reason}]" if check.status == "fail" and check.reason else ""
            out.write(
                f"  {_MARK.get(check.status, check.status)} {check.name:<{width}}  "
                f"{check.detail}{reason}\n"
            )
            if check.status == "fail" and check.expected is not None:
                pad = " " * (width + 9)
                out.write(f"{pad}expected: {check.expected}\n{pad}actual:   {check.actual}\n")
        out.write("\n")
        for hint in explanation.hints:
            out.write(f"hint: {hint}\n")
        if explanation.accepted:
            checked = (
                "and the route's requirements"
                if route
                else ("and the route's scopes" if scopes else "route scopes: give --scope")
            )
            out.write(f"verdict: ACCEPTED (signature and claims; {checked})\n")
        else:
            error = explanation.error
            assert error is not None
            code = error.error or "no error code"
            out.write(
                f"verdict: REFUSED {error.status_code} {code} ({error.reason}): "
                f"{error.description}\n"
            )
    return EXIT_OK if explanation.accepted else EXIT_FAILED


def _route(args: argparse.Namespace) -> tuple[Requirement, ...]:
    """The route's step-up and RAR requirements, built as the route decorators build them
    (:func:`rs_guard.route_checks.route_checks`); ``ValueError`` when malformed."""
    from .route_checks import route_checks

    acr_values = [value for given in args.acr_values for value in given.split(" ") if value]
    details: Any = None
    if args.authorization_details is not None:
        try:
            details = json.loads(args.authorization_details)
        except ValueError as exc:
            raise ValueError(f"--authorization-details is not JSON: {exc}") from None
    try:
        return route_checks(
            acr_values=acr_values or None, max_age=args.max_age, authorization_details=details
        )
    except (TypeError, ValueError) as exc:
        raise ValueError(str(exc)) from None


def _print_decoded(
    header: Mapping[str, Any], claims: Mapping[str, Any], now: float, out: TextIO
) -> None:
    from .diagnose import human_time

    out.write("header (not verified):\n")
    for name, value in header.items():
        out.write(f"  {name}: {json.dumps(value)}\n")
    out.write("claims (not verified):\n")
    for name, value in claims.items():
        shown = (
            human_time(value, now)
            if name in ("exp", "nbf", "iat", "auth_time")
            else json.dumps(value)
        )
        out.write(f"  {name}: {shown}\n")


def _check_config(
    args: argparse.Namespace,
    env: Mapping[str, str],
    out: TextIO,
    err: TextIO,
    transport: httpx.BaseTransport | None,
) -> int:
    from .checkconfig import check_settings

    try:
        config = load_config(env, **_overrides(args))
    except ConfigError as exc:
        if args.json:
            _print_json({"ok": False, "settings_error": str(exc), "field": exc.field}, out)
        else:
            err.write(f"rs-guard check-config: invalid settings: {exc}\n")
        return EXIT_FAILED
    report = check_settings(config, transport=transport)
    if args.json:
        _print_json(report.to_dict(), out)
    else:
        report.write(out)
    return EXIT_OK if report.ok else EXIT_FAILED


def main(
    argv: Sequence[str] | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
    stdin: TextIO | None = None,
    clock: Callable[[], float] = time.time,
    transport: httpx.BaseTransport | None = None,
) -> int:
    """Run the command line; returns the exit code (the keyword arguments serve tests)."""
    out = stdout or sys.stdout
    err = stderr or sys.stderr
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse: 0 for --help/--version, 2 for usage errors
        return int(exc.code or 0)
    env = _environ(args, os.environ if environ is None else environ)
    if args.command == "demo":
        from .demo import run_demo

        try:
            return run_demo(serve=args.serve, port=args.port, out=out)
        except KeyboardInterrupt:
            err.write("rs-guard demo: interrupted\n")
            return 130
        except ImportError as exc:
            err.write(
                f"rs-guard demo: {exc}; the demo needs FastAPI and uvicorn "
                "(pip install 'rs_guard[fastapi]' uvicorn, or ./scripts/demo)\n"
            )
            return EXIT_FAILED
        except (OSError, RuntimeError) as exc:  # a busy --port, a server that cannot start
            err.write(f"rs-guard demo: {exc}\n")
            return EXIT_FAILED
    if args.command == "inspect":
        return _inspect(args, env, out, err, stdin or sys.stdin, clock, transport)
    if args.command == "settings":
        return _settings(args, env, out)
    return _check_config(args, env, out, err, transport)


def _settings(args: argparse.Namespace, env: Mapping[str, str], out: TextIO) -> int:
    from .settings import SETTINGS, markdown_table, unknown_message, unknown_names

    if args.markdown:
        out.write(markdown_table())
        return EXIT_OK
    for setting in SETTINGS:
        mark = "set" if env.get(setting.name) else "   "
        out.write(f"{mark} {setting.name}  ({setting.field}; default {setting.default})\n")
        out.write(f"      {setting.doc}\n")
    for name in unknown_names(env):
        out.write(f"??? {name} {unknown_message(name)}\n")
    return EXIT_OK


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
