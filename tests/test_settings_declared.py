"""Each setting is declared once, in the table of omnichat/config/table.py: the Settings
fields and their defaults, the flags of `talk` and `ptt`, the environment variables, the
config file keys and the rows of docs/configuration.md all agree with that one row."""

from __future__ import annotations

import dataclasses
import types
import typing
from pathlib import Path

import pytest
import typer

from omnichat.cli import app
from omnichat.config.commands import _doc_default
from omnichat.config.fields import TurnDetection, setting_fields
from omnichat.config.settings import Settings, load_settings
from omnichat.config.table import BY_NAME, FILE_KEYS, SETTINGS, TURN_DETECTION_PARTS
from omnichat.emulator.config import DEFAULT_TURN_DETECTION

REPO = Path(__file__).resolve().parents[1]
# Fields of Settings that are not settings of the table: the raw [tools]/[mcp] tables, and
# where the values came from.
NOT_SETTINGS = {"tools", "mcp_servers", "mcp_remote", "config_file", "sources"}
# The Python types a row's kind allows on its field.
KIND_TYPES = {"str": {str}, "int": {int}, "float": {float}, "bool": {bool},
              "str_list": {tuple[str, ...]}, "device": {str, int}, "path": {Path}}


def declarations() -> dict[str, tuple[type, str]]:
    """Row name -> (the class, the field) that declares it, over Settings and TurnDetection."""
    found: dict[str, tuple[type, str]] = {}
    for cls in (Settings, TurnDetection):
        for field_name, row in setting_fields(cls).items():
            assert row not in found, f"{row} is declared twice: {found[row]} and {field_name}"
            found[row] = (cls, field_name)
    return found


def test_every_row_is_one_field_and_every_field_one_row():
    assert set(declarations()) == {s.name for s in SETTINGS}
    undeclared = {f.name for f in dataclasses.fields(Settings)} - set(setting_fields(Settings))
    assert undeclared == NOT_SETTINGS | {"turn_detection"}  # the TurnDetection of its rows
    assert set(setting_fields(TurnDetection).values()) == {"turn_detection",
                                                           *TURN_DETECTION_PARTS}


@pytest.mark.parametrize("setting", SETTINGS, ids=lambda s: s.name)
def test_the_field_type_and_default_are_the_rows(setting):
    cls, field_name = declarations()[setting.name]
    hint = typing.get_type_hints(cls)[field_name]
    union = typing.get_origin(hint) in (typing.Union, types.UnionType)
    allowed = set(typing.get_args(hint)) if union else {hint}
    assert KIND_TYPES[setting.kind] <= allowed, (setting.name, hint)
    assert (type(None) in allowed) == (setting.default is None and not setting.default_factory)
    made = Settings() if cls is Settings else TurnDetection()
    assert getattr(made, field_name) == setting.default_value()


def test_loading_nothing_gives_the_declared_defaults(tmp_path):
    loaded = load_settings({}, environ={}, path=tmp_path / "none.toml")
    for field in dataclasses.fields(Settings):
        if field.name not in NOT_SETTINGS:
            assert getattr(loaded, field.name) == getattr(Settings(), field.name), field.name
    assert loaded.voice == Settings().voice == "Tina"  # the default model's voice
    assert set(loaded.sources.values()) == {"default"}


def test_the_voice_default_follows_the_model(tmp_path):
    loaded = load_settings({"model": "qwen-omni-turbo-realtime"}, environ={},
                           path=tmp_path / "none.toml")
    assert loaded.voice == "Chelsie" and BY_NAME["voice"].default_text == "the model's"


def test_the_default_turn_detection_is_what_the_service_starts_with():
    """The table's defaults are the service's: the emulator's session.created, taken from a
    real one (docs/protocol.md §4.2)."""
    sent = Settings().session_payload()["turn_detection"]
    assert sent == DEFAULT_TURN_DETECTION


def _options(command: str) -> dict[str, typer.core.TyperOption]:
    click_app = typer.main.get_command(app)
    params = click_app.commands[command].params  # type: ignore[attr-defined]
    return {p.name: p for p in params if p.opts[0].startswith("-")}


@pytest.mark.parametrize("command", ["talk", "ptt"])
def test_every_flag_is_the_rows(command):
    options = _options(command)
    flagged = [s for s in SETTINGS if s.flag and s.available]
    assert flagged and {s.name for s in flagged} <= set(options)
    for setting in flagged:
        option = options[setting.name]
        assert set(option.opts) == {f for f in (setting.flag, setting.short) if f}
        assert (setting.flag_help or setting.help) in option.help
        if setting.env:
            assert f"[env: {setting.env}]" in option.help


def _sample(kind: str) -> str:
    return {"str": "x", "int": "3", "float": "2.5", "bool": "true"}[kind]


@pytest.mark.parametrize("setting", [s for s in SETTINGS if s.env], ids=lambda s: s.name)
def test_every_environment_variable_sets_its_row(tmp_path, setting):
    values = {"region": "cn", "model": "qwen3-omni-flash-realtime", "voice": "Ethan"}
    environ = {setting.env: values.get(setting.name, _sample(setting.kind))}
    loaded = load_settings({}, environ=environ, path=tmp_path / "none.toml")
    assert loaded.sources[setting.name] == "env"
    assert str(getattr(loaded, setting.name)) == environ[setting.env]


def test_every_file_key_is_a_row_and_each_docs_row_matches():
    assert set(FILE_KEYS) == {s.key for s in SETTINGS
                              if s.key and not s.key.startswith("regions.")}
    doc = (REPO / "docs" / "configuration.md").read_text(encoding="utf-8")
    rows = {line.split("|")[1].strip(" `"): [c.strip() for c in line.split("|")[2:-1]]
            for line in doc.splitlines() if line.startswith("| `")}
    for setting in SETTINGS:
        key, flag, env, default = rows[setting.name][:4]
        assert key == (f"`{setting.key}`" if setting.key else "—"), setting.name
        assert (setting.flag is None) == (flag == "—"), setting.name
        assert env == (f"`{setting.env}`" if setting.env else "—"), setting.name
        assert default == _doc_default(setting), setting.name
