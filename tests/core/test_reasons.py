"""Reasons are one enum: no module of rs_guard names a refusal's reason with a free string.

The static check reads every module (imports inside functions and helpers such as
``_proof_error(description, reason)`` included): wherever a reason is given (a
``reason=`` keyword, a positional argument for a parameter named ``reason``, a default of
such a parameter, an assignment to a name or class attribute ``reason``) the value must
be ``Reason.<MEMBER>`` with a real member, or a name passed through.
"""

from __future__ import annotations

import ast
import json
import logging
from pathlib import Path

import pytest

from rs_guard import InvalidToken, Reason, RSGuardError, errors
from rs_guard.observability import outcome_of

PACKAGE = Path(__file__).resolve().parents[2] / "rs_guard"


def _bad_reason(node: ast.expr | None) -> str | None:
    """Why ``node`` is not an acceptable reason value, or ``None`` when it is.

    Refused: a string (literal or f-string), in either branch of a conditional, and
    ``Reason.<NAME>`` without such a member. Anything else (a name or attribute passed
    through, ``None`` for the class default, a call) is the code's own business.
    """
    if isinstance(node, ast.IfExp):
        return _bad_reason(node.body) or _bad_reason(node.orelse)
    if isinstance(node, ast.JoinedStr) or (
        isinstance(node, ast.Constant) and isinstance(node.value, str)
    ):
        return f"{ast.unparse(node)} is not a Reason member"
    if (
        isinstance(node, ast.Attribute)
        and isinstance(node.value, ast.Name)
        and node.value.id == "Reason"
        and node.attr not in Reason.__members__
    ):
        return f"Reason.{node.attr} is no member"
    return None


def _reason_positions(tree: ast.AST) -> dict[str, int]:
    """Functions of a module with a positional parameter named ``reason``, and its index."""
    found: dict[str, int] = {}
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            names = [a.arg for a in node.args.posonlyargs + node.args.args]
            if "reason" in names:
                found[node.name] = names.index("reason") - (1 if names[0] == "self" else 0)
    return found


def reason_violations(path: Path) -> list[str]:
    tree = ast.parse(path.read_text())
    positions = _reason_positions(tree)
    out: list[str] = []

    def check(node: ast.expr | None, where: ast.AST) -> None:
        why = _bad_reason(node)
        if why is not None:
            out.append(f"{path.name}:{getattr(where, 'lineno', '?')}: {why}")

    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            for keyword in node.keywords:
                if keyword.arg == "reason":
                    check(keyword.value, node)
            name = getattr(node.func, "id", None) or getattr(node.func, "attr", None)
            index = positions.get(name or "")
            if index is not None and len(node.args) > index:
                check(node.args[index], node)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            args = node.args
            positional = args.posonlyargs + args.args
            defaults = dict(
                zip(positional[len(positional) - len(args.defaults) :], args.defaults, strict=True)
            )
            defaults.update(
                (a, d)
                for a, d in zip(args.kwonlyargs, args.kw_defaults, strict=True)
                if d is not None
            )
            for arg, default in defaults.items():
                if arg.arg == "reason":
                    check(default, node)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            named = any(isinstance(t, ast.Name) and t.id == "reason" for t in targets)
            if named and not isinstance(node.value, ast.JoinedStr):  # f"...": display text
                check(node.value, node)
    return out


def test_every_reason_in_rs_guard_is_a_member() -> None:
    modules = [p for p in PACKAGE.rglob("*.py") if p.name != "reasons.py"]
    assert len(modules) > 40
    violations = [v for path in sorted(modules) for v in reason_violations(path)]
    assert violations == []


@pytest.mark.parametrize(
    ("source", "found"),
    [
        ('raise InvalidToken("x", reason="expired")', "'expired' is not a Reason member"),
        ("raise InvalidToken('x', reason=Reason.EXPIRD)", "Reason.EXPIRD is no member"),
        ('def _err(d, reason="oops"):\n    pass', "'oops' is not a Reason member"),
        ('def _err(d, reason):\n    pass\n_err("d", "oops")', "'oops' is not a Reason member"),
        ('class E:\n    reason = "oops"', "'oops' is not a Reason member"),
        ('reason = Reason.EXPIRED if x else "late"', "'late' is not a Reason member"),
    ],
)
def test_the_check_finds_a_free_reason(tmp_path: Path, source: str, found: str) -> None:
    module = tmp_path / "module.py"
    module.write_text(source + "\n")
    assert [v.split(": ", 1)[1] for v in reason_violations(module)] == [found]


def test_the_check_accepts_members_and_pass_through(tmp_path: Path) -> None:
    module = tmp_path / "module.py"
    module.write_text(
        "def _err(d, reason=Reason.INVALID_JWE):\n"
        "    raise InvalidToken(d, reason=reason)\n"
        "_err('d', Reason.MALFORMED)\n"
        "reason = Reason.DPOP_NONCE_MISSING if x else Reason.DPOP_NONCE_STALE\n"
    )
    assert reason_violations(module) == []


def test_every_error_class_has_a_member_as_its_default_reason() -> None:
    classes = [c for c in vars(errors).values() if isinstance(c, type)]
    refusals = [c for c in classes if issubclass(c, RSGuardError)]
    assert len(refusals) == 11
    assert {c.__name__: type(c.reason) for c in refusals} == {c.__name__: Reason for c in refusals}


def test_a_reason_reads_as_its_code_in_strings_logs_and_json(
    caplog: pytest.LogCaptureFixture,
) -> None:
    exc = InvalidToken("the token has expired", reason=Reason.EXPIRED)
    assert exc.reason == "expired"
    assert (str(exc.reason), f"{exc.reason}", f"{exc.reason:>8}") == (
        "expired",
        "expired",
        " expired",
    )
    assert json.dumps({"reason": exc.reason}) == '{"reason": "expired"}'
    outcome = outcome_of(error=exc, token=None, method="GET", url="/x", duration=0.0)
    assert (outcome.reason, f"{outcome.reason}") == ("expired", "expired")
    with caplog.at_level(logging.INFO):
        logging.getLogger("test").info("refused: %s", exc.reason)
    assert caplog.messages == ["refused: expired"]
