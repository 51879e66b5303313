"""The one settings table: docs/settings.md, the CLI and GuardConfig agree with it."""

from __future__ import annotations

import dataclasses
import io
from pathlib import Path

from rs_guard.cli import main
from rs_guard.config import GuardConfig
from rs_guard.settings import BY_NAME, SETTINGS, markdown_table

DOC = Path(__file__).resolve().parents[2] / "docs" / "settings.md"


def _run(*argv: str, environ: dict[str, str] | None = None) -> tuple[int, str]:
    out = io.StringIO()
    code = main(list(argv), environ=environ or {}, stdout=out, stderr=io.StringIO())
    return code, out.getvalue()


def test_the_doc_table_is_the_generated_one() -> None:
    # Regenerate with: rs-guard settings --markdown
    assert markdown_table() in DOC.read_text()


def test_the_cli_prints_the_same_table() -> None:
    assert _run("settings", "--markdown") == (0, markdown_table())


def test_the_cli_marks_what_is_set_and_never_prints_a_value() -> None:
    code, text = _run(
        "settings",
        environ={"RS_GUARD_SIGNING_SECRET": "a-very-secret-value", "RS_GUARD_LEWAY": "3"},
    )
    assert code == 0
    assert "set RS_GUARD_SIGNING_SECRET  (`signing_secret`; default none)" in text
    assert "    RS_GUARD_LEEWAY  (`leeway`; default **10**)" in text
    assert "??? RS_GUARD_LEWAY is not an rs_guard setting; did you mean RS_GUARD_LEEWAY?" in text
    assert "a-very-secret-value" not in text


def test_every_documented_field_is_a_field_of_guard_config() -> None:
    fields = {f.name for f in dataclasses.fields(GuardConfig)}
    for setting in SETTINGS:
        if setting.field == "(several)":
            continue
        for name in setting.field.replace("`", "").split(", "):
            assert name.split(".")[0] in fields, (setting.name, name)


def test_simple_defaults_match_guard_config() -> None:
    config = GuardConfig(issuer="https://i.example/", audience="a")
    for name, field in [
        ("RS_GUARD_SIGNING_ALG", "algorithm"),
        ("RS_GUARD_TOKEN_DIALECT", "token_dialect"),
        ("RS_GUARD_LEEWAY", "leeway"),
        ("RS_GUARD_TOKEN_CACHE", "token_cache_size"),
        ("RS_GUARD_DISCOVERY", "discovery"),
        ("RS_GUARD_REPLAY_STORE", "replay_store"),
        ("RS_GUARD_RESOURCE_METADATA", "resource_metadata"),
    ]:
        setting = BY_NAME[name]
        assert setting.parse is not None
        default = setting.default.strip("`*")
        assert setting.parse(name, default) == {field: getattr(config, field)}, name
