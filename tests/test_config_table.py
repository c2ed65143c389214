"""The settings table: what it offers works, what has no effect is refused, the client and the
emulator share the service's limits, and the docs and flags are made from it."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from typer.testing import CliRunner

from omnichat.catalog import DEFAULT_MODEL, get_model
from omnichat.cli import app
from omnichat.config.commands import settings_glossary, settings_markdown, show_lines
from omnichat.config.settings import Settings, load_settings
from omnichat.config.table import BY_NAME, SETTINGS
from omnichat.emulator.config import Rejection, apply_update, default_session
from omnichat.errors import ConfigError
from omnichat.protocol import limits

REPO = Path(__file__).resolve().parents[1]
runner = CliRunner()


def load(tmp_path: Path, text: str = "", flags=None, environ=None) -> Settings:
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    return load_settings(flags, environ=environ or {}, path=path)


def error(tmp_path: Path, text: str = "", flags=None, environ=None) -> str:
    with pytest.raises(ConfigError) as info:
        load(tmp_path, text, flags, environ)
    return str(info.value)


# --- defect 5: nothing is offered that has no effect ----------------------------------------

@pytest.mark.parametrize("text,flags", [('[turn_detection]\ntype = "manual"\n', None),
                                        ("", {"turn_detection": "manual"})])
def test_manual_turn_detection_is_push_to_talk(tmp_path, text, flags):
    settings = load(tmp_path, text, flags)
    assert settings.turn_detection is None
    assert settings.session_payload()["turn_detection"] is None


def test_echo_mode_and_barge_in_are_read_and_checked(tmp_path):
    settings = load(tmp_path, '[audio]\necho_mode = "half-duplex"\nbarge_in = "low"\n')
    assert (settings.echo_mode, settings.barge_in) == ("half-duplex", "low")
    assert "barge_in" in error(tmp_path, '[audio]\nbarge_in = "loud"\n', None)


def test_nothing_unavailable_is_offered_anywhere(tmp_path):
    unavailable = [s for s in SETTINGS if not s.available]
    assert {s.name for s in unavailable} == set()
    shown = "\n".join(show_lines(load(tmp_path)))
    example = (REPO / "omnichat" / "data" / "config.example.toml").read_text(encoding="utf-8")
    talk_help = runner.invoke(app, ["talk", "--help"], terminal_width=200).output
    for text in (shown, example, talk_help, settings_markdown()):
        for setting in unavailable:  # none today: push-to-talk and echo handling exist
            assert (setting.key or setting.name) not in text


def test_enabling_a_refused_setting_is_a_table_change(tmp_path, monkeypatch):
    from omnichat.config import schema as config_schema
    from omnichat.config import table as config_table

    enabled = dataclasses.replace(BY_NAME["echo_mode"], available=True)
    patched = {**BY_NAME, "echo_mode": enabled}
    monkeypatch.setattr(config_schema, "BY_NAME", patched)
    monkeypatch.setattr(config_table, "BY_NAME", patched)
    assert load(tmp_path, '[audio]\necho_mode = "gate"\n').echo_mode == "gate"


# --- the service's limits: one place, the client and the emulator agree ----------------------

def _client_accepts(tmp_path: Path, name: str, value) -> bool:
    setting = BY_NAME[name]
    table, _, key = setting.key.rpartition(".")
    try:
        load(tmp_path, f"[{table}]\n{key} = {value!r}\n")
    except ConfigError:
        return False
    return True


def _emulator_accepts(name: str, value) -> bool:
    model = get_model(DEFAULT_MODEL)
    update = ({"turn_detection": {name: value}} if name in limits.TURN_DETECTION
              else {name: value})
    result = apply_update(default_session(model, "sess_1"), update, model,
                          audio_generated=False)
    return not isinstance(result, Rejection)


@pytest.mark.parametrize("name,value", [
    ("prefix_padding_ms", 6001), ("prefix_padding_ms", 10000), ("prefix_padding_ms", 6000),
    ("prefix_padding_ms", -1), ("seed", -1), ("seed", 0), ("seed", 2**31 - 1), ("seed", 2**31),
    ("threshold", 1.01), ("threshold", -1.0), ("silence_duration_ms", 199),
    ("temperature", 2.0), ("temperature", 1.99), ("top_p", 0.0), ("top_p", 1.0),
    ("presence_penalty", -2.5), ("top_k", -1), ("repetition_penalty", 0.0),
])
def test_client_and_emulator_agree_on_every_limit(tmp_path, name, value):
    assert _client_accepts(tmp_path, name, value) == _emulator_accepts(name, value), (
        name, value)


def test_the_limits_follow_the_vendor_documentation():
    assert (limits.SEED.low, limits.SEED.high) == (0, 2**31 - 1)  # -1 is only the echoed "unset"
    assert 6000 in limits.PREFIX_PADDING_MS and 6001 not in limits.PREFIX_PADDING_MS
    assert 2.0 not in limits.TEMPERATURE and 0.0 not in limits.TOP_P
    assert BY_NAME["prefix_padding_ms"].limits is limits.PREFIX_PADDING_MS
    assert BY_NAME["seed"].limits is limits.SEED


# --- new settings for the transport, and the raw tables for tools and MCP ----------------------

def test_allow_insecure_and_connect_timeout_from_file_env_and_flags(tmp_path):
    defaults = load(tmp_path)
    assert defaults.allow_insecure is False and defaults.connect_timeout_s == 10.0
    from_file = load(tmp_path, "allow_insecure = true\nconnect_timeout_s = 3\n")
    assert from_file.allow_insecure is True and from_file.connect_timeout_s == 3.0
    from_env = load(tmp_path, environ={"OMNICHAT_CONNECT_TIMEOUT_S": "2.5"})
    assert from_env.connect_timeout_s == 2.5 and from_env.sources["connect_timeout_s"] == "env"
    assert "must be a number, got 'soon'" in error(
        tmp_path, environ={"OMNICHAT_CONNECT_TIMEOUT_S": "soon"})
    assert "0 is out of range; use a number of seconds above 0 and at most 300" in error(
        tmp_path, flags={"connect_timeout_s": 0})


def test_talk_flags_reach_the_settings(monkeypatch):
    seen = {}
    monkeypatch.setattr("omnichat.session.talk.run_talk",
                        lambda flags, options, **kw: seen.update(flags=flags, options=options))
    result = runner.invoke(app, ["talk", "--local", "--allow-insecure", "--connect-timeout",
                                 "2.5", "--text-only", "-m", "qwen3-omni-flash-realtime"])
    assert result.exit_code == 0, result.output
    flags = seen["flags"]
    assert flags["allow_insecure"] is True and flags["connect_timeout_s"] == 2.5
    assert flags["modalities"] == ["text"] and flags["model"] == "qwen3-omni-flash-realtime"
    assert flags["enable_search"] is None and flags["voice"] is None
    assert seen["options"].local is True
    settings = load_settings(flags, environ={})
    assert settings.allow_insecure and settings.connect_timeout_s == 2.5


def test_tools_and_mcp_server_tables_pass_through_as_raw_dicts(tmp_path):
    text = ('[tools]\nenabled = ["clock"]\n[mcp.servers.files]\ncommand = "mcp-files"\n'
            'args = ["--root", "/tmp"]\n')
    settings = load(tmp_path, text)
    assert dict(settings.tools) == {"enabled": ["clock"]}
    assert dict(settings.mcp_servers) == {"files": {"command": "mcp-files",
                                                    "args": ["--root", "/tmp"]}}
    assert settings.sources["mcp_servers"] == "file"
    assert load(tmp_path).tools == {} and load(tmp_path).mcp_servers == {}
    assert "key 'mcp': only [mcp.servers.NAME] and [mcp.remote.NAME] tables" in error(
        tmp_path, "[mcp]\nx = 1\n")
    assert "key 'tools': must be a table" in error(tmp_path, "tools = 3\n")


# --- the table generates the rest --------------------------------------------------------------

def test_every_setting_is_a_settings_attribute_and_every_flag_a_talk_option():
    fields = {f.name for f in dataclasses.fields(Settings)}
    parts = {"threshold", "silence_duration_ms", "prefix_padding_ms"}  # inside turn_detection
    assert {s.name for s in SETTINGS} - parts <= fields
    help_text = runner.invoke(app, ["talk", "--help"], terminal_width=200).output
    for setting in SETTINGS:
        if setting.flag and setting.available:
            assert f"{setting.flag} " in help_text or help_text.count(setting.flag), setting.flag
        if setting.env:
            assert f"[env: {setting.env}]" in help_text or not setting.flag


def test_every_env_var_of_the_table_is_read(tmp_path):
    values = {"region": "cn", "model": "qwen3-omni-flash-realtime", "voice": "Ethan",
              "instructions": "Be brief.", "connect_timeout_s": "4", "workspace": "llm-a1"}
    environ = {BY_NAME[name].env: value for name, value in values.items()}
    assert set(environ) == {s.env for s in SETTINGS if s.env}
    settings = load(tmp_path, environ=environ)
    assert (settings.region, settings.voice, settings.connect_timeout_s) == ("cn", "Ethan", 4.0)
    assert settings.workspace == "llm-a1"
    assert {settings.sources[name] for name in values} == {"env"}


def test_configuration_doc_matches_the_table():
    doc = (REPO / "docs" / "configuration.md").read_text(encoding="utf-8")
    assert settings_markdown() in doc, (
        "docs/configuration.md is out of date; paste in the output of "
        "omnichat.config.commands.settings_markdown()")
    assert settings_glossary() in doc
