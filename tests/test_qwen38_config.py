"""qwen3.8 settings (docs/qwen38.md): the session payload built from them, the one-line
refusals on other models, workspaces per region, and the [mcp.remote.NAME] tables."""

from __future__ import annotations

from pathlib import Path

import pytest

from omnichat.config.settings import load_settings
from omnichat.config.warning import voice_warning, workspace_hint
from omnichat.errors import ConfigError
from omnichat.tools.remote import remote_tools

QWEN38 = "qwen3.8-omni-flash-realtime"
QWEN35 = "qwen3.5-omni-plus-realtime"
TOKEN = "tok-secret-0123456789"


def load(tmp_path: Path, text: str = "", **flags):
    path = tmp_path / "config.toml"
    path.write_text(text)
    return load_settings(flags, environ={}, path=path)


def error(tmp_path: Path, text: str = "", **flags) -> str:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, text, **flags)
    assert "\n" not in str(caught.value)
    return str(caught.value)


def test_the_qwen38_payload_has_the_nested_audio_and_video_objects(tmp_path):
    settings = load(tmp_path, 'video_compact = "normal"\n[audio]\ninput_channels = 4\n',
                    model=QWEN38, voice="Ethan")
    payload = settings.session_payload()
    assert payload["voice"] == "Ethan"
    assert payload["audio"] == {
        "input": {"format": {"type": "pcm", "sample_rate": 16000, "sample_format": "s16le",
                             "channels": 4, "packing": "interleaved",
                             "channel_layout": "raw_mic_array"}},
        "output": {"voice": "Ethan"}}
    assert payload["video"] == {"input": {"representation_compact": "normal"}}
    assert "input_audio_format" not in payload and "output_audio_format" not in payload


def test_older_models_keep_the_legacy_fields(tmp_path):
    payload = load(tmp_path).session_payload()
    assert payload["input_audio_format"] == payload["output_audio_format"] == "pcm"
    assert "audio" not in payload and "video" not in payload


@pytest.mark.parametrize("text, flags, words", [
    ("", {"input_channels": 2}, f"2 input channels are not supported by {QWEN35}"),
    ("", {"input_channels": 3, "model": QWEN38}, "use 1, 2 or 4"),
    ('video_compact = "normal"\n', {}, f"video_compact needs {QWEN38}"),
    ('video_compact = "half"\n', {"model": QWEN38}, "video_compact 'half' is unknown"),
    ("", {"max_tokens": 65_537, "model": QWEN38}, "from 1 to 65536"),
    ("", {"workspace": "a b"}, "is not a workspace id"),
])
def test_qwen38_settings_are_refused_in_one_line(tmp_path, text, flags, words):
    assert words in error(tmp_path, text, **flags)


def test_a_workspace_picks_the_region_workspace_endpoint_and_header(tmp_path):
    intl = load(tmp_path, workspace="llm-a1")
    assert intl.url == "wss://llm-a1.ap-southeast-1.maas.aliyuncs.com/api-ws/v1/realtime"
    assert intl.headers() == {"X-DashScope-WorkSpace": "llm-a1"}
    assert load(tmp_path).headers() == {}
    # A region of your own without workspace_url keeps its url; the header still names it.
    own = load(tmp_path, '[regions.lab]\nurl = "wss://lab.example/api-ws/v1/realtime"\n',
               region="lab", workspace="llm-a1")
    assert own.url == "wss://lab.example/api-ws/v1/realtime" and own.headers()


def test_qwen38_warns_about_an_unlisted_voice_and_a_missing_workspace(tmp_path):
    settings = load(tmp_path, model=QWEN38, voice="Nobody")
    assert "voice 'Nobody' is not in the list" in voice_warning(settings)
    assert "workspace" in workspace_hint(settings)
    assert voice_warning(load(tmp_path, model=QWEN38)) is None
    assert workspace_hint(load(tmp_path, model=QWEN38, workspace="llm-a1")) is None
    assert "has no voice 'Nobody'" in error(tmp_path, voice="Nobody")  # a verified list


REMOTE = {"docs": {"url": "https://mcp.example.com/mcp", "authorization_env": "DOCS_TOKEN",
                   "allowed_tools": ["search"], "require_approval": "never"}}


def test_remote_tables_become_mcp_tools_with_the_token_from_the_environment():
    assert remote_tools(REMOTE, QWEN38, "cfg", environ={"DOCS_TOKEN": TOKEN}) == [
        {"type": "mcp", "server_label": "docs", "server_url": "https://mcp.example.com/mcp",
         "authorization": TOKEN, "allowed_tools": ["search"], "require_approval": "never"}]


@pytest.mark.parametrize("table, environ, words", [
    ({"url": "ftp://x"}, {}, "url must be the server's http(s):// address"),
    ({"url": "https://x", "authorization": TOKEN}, {}, "would put a secret in the file"),
    ({"url": "https://x", "authorization_env": "DOCS_TOKEN"}, {},
     "DOCS_TOKEN (authorization_env) is not set"),
    ({"url": "https://x", "require_approval": "sometimes"}, {}, "require_approval must be"),
    ({"url": "https://x", "allowed_tools": "search"}, {}, "allowed_tools must be a list"),
    ({"url": "https://x", "colour": 1}, {}, "unknown key 'colour'"),
])
def test_bad_remote_tables_are_one_line_without_the_token(table, environ, words):
    with pytest.raises(ConfigError) as caught:
        remote_tools({"docs": table}, QWEN38, "cfg", environ=environ)
    assert words in str(caught.value) and TOKEN not in str(caught.value)
    assert str(caught.value).startswith("cfg, [mcp.remote.docs]: ")


def test_remote_tables_are_refused_on_other_models():
    with pytest.raises(ConfigError) as caught:
        remote_tools(REMOTE, QWEN35, "cfg", environ={"DOCS_TOKEN": TOKEN})
    assert f"server-side MCP needs {QWEN38}, but the model is {QWEN35}" in str(caught.value)
