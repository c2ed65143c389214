"""Settings: precedence flags > env > file > defaults, the session payload, and every
validation error as the one line the user reads."""

from __future__ import annotations

import dataclasses
import fnmatch
import itertools
import os
import re
import sys
from pathlib import Path

import pytest

from omnichat.catalog import REGIONS
from omnichat.config.commands import starter_text
from omnichat.config.settings import Settings, TurnDetection, config_path, load_settings
from omnichat.errors import ConfigError, ExitCode

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

REPO = Path(__file__).resolve().parents[1]
# The one example config file: `omnichat config init` writes it from the installed package.
EXAMPLE = REPO / "omnichat" / "data" / "config.example.toml"
KEY = "sk-test-0123456789abcdef"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    return path


def load(tmp_path, text="", flags=None, environ=None) -> Settings:
    return load_settings(flags, environ=environ or {}, path=write(tmp_path, text))


def error(tmp_path, text="", flags=None, environ=None) -> str:
    with pytest.raises(ConfigError) as info:
        load(tmp_path, text, flags, environ)
    message = str(info.value)
    assert "\n" not in message and info.value.exit_code == ExitCode.USAGE
    return message


# --- defaults, paths, payload ------------------------------------------------------------------

def test_defaults_without_a_file(tmp_path):
    settings = load_settings(environ={}, path=tmp_path / "missing.toml")
    assert settings.config_file is None
    assert (settings.region, settings.url) == ("intl", REGIONS["intl"].url)
    assert settings.model == "qwen3.5-omni-plus-realtime" and settings.voice == "Tina"
    assert settings.api_key is None and settings.api_key_env == "DASHSCOPE_API_KEY"
    assert settings.modalities == ("text", "audio")
    assert settings.turn_detection == TurnDetection("server_vad", 0.5, 800, 300)
    assert settings.echo_mode == "auto" and settings.enable_search is False
    assert settings.transcript_dir.name == "transcripts"
    assert set(settings.sources.values()) == {"default"}


def test_config_path_honours_the_environment(tmp_path):
    assert config_path({"OMNICHAT_CONFIG": str(tmp_path / "x.toml")}) == tmp_path / "x.toml"
    default = config_path({})
    assert default.name == "config.toml" and default.parent.name == "omnichat"
    assert str(default).startswith(str(Path.home()))  # conftest isolates HOME/XDG


def test_load_settings_reads_omnichat_config(tmp_path):
    path = write(tmp_path, 'voice = "Ethan"\n')
    settings = load_settings(environ={"OMNICHAT_CONFIG": str(path)})
    assert settings.voice == "Ethan" and settings.config_file == path


def test_endpoint_and_payload(tmp_path):
    settings = load(tmp_path, 'instructions = "Be brief."\n[sampling]\ntemperature = 0.3\n'
                              "seed = 7\n", flags={"enable_search": True})
    assert settings.endpoint() == REGIONS["intl"].url + "?model=qwen3.5-omni-plus-realtime"
    assert settings.session_payload() == {
        "modalities": ["text", "audio"], "voice": "Tina", "instructions": "Be brief.",
        "input_audio_format": "pcm", "output_audio_format": "pcm",
        "turn_detection": {"type": "server_vad", "threshold": 0.5, "silence_duration_ms": 800,
                           "prefix_padding_ms": 300, "create_response": True,
                           "interrupt_response": True},
        "temperature": 0.3, "seed": 7, "enable_search": True,
    }


def test_manual_payload_text_only_and_smooth_output(tmp_path):
    settings = load(tmp_path, 'model = "qwen3-omni-flash-realtime"\nmodalities = ["text"]\n'
                              "smooth_output = false\n")
    settings = dataclasses.replace(settings, turn_detection=None)  # once push-to-talk exists
    payload = settings.session_payload()
    assert payload["turn_detection"] is None
    assert payload["modalities"] == ["text"] and payload["voice"] == "Cherry"
    assert payload["smooth_output"] is False and "enable_search" not in payload
    assert "temperature" not in payload and "instructions" not in payload


def test_endpoint_quotes_the_model_and_keeps_a_query():
    settings = Settings(url="wss://h/x?workspace=1", model="a b")
    assert settings.endpoint() == "wss://h/x?workspace=1&model=a%20b"


def test_example_file_loads_and_validates():
    settings = load_settings(environ={}, path=EXAMPLE)
    assert settings.config_file == EXAMPLE
    assert settings.sources["model"] == "file" and settings.sources["threshold"] == "file"


def test_example_file_documents_every_key():
    from omnichat.config.table import FILE_KEYS

    text = EXAMPLE.read_text(encoding="utf-8")
    offered = [key for key, setting in FILE_KEYS.items() if setting.available]
    for dotted in [*offered, "regions.intl.url", "regions.cn.api_key_env"]:
        table, _, key = dotted.rpartition(".")
        assert f"{key} = " in text, dotted
        if table:
            assert f"[{table}]" in text, table


def _copies(name: str) -> list[str]:
    """Every real file called ``name`` in the repository (links, hidden and build folders
    left out)."""
    found = []
    for folder, subfolders, files in os.walk(REPO):
        subfolders[:] = [d for d in subfolders if not d.startswith(".") and d != "build"]
        if name in files and not Path(folder, name).is_symlink():
            found.append(Path(folder, name).relative_to(REPO).as_posix())
    return found


def test_the_example_file_is_one_file_and_the_package_ships_it():
    """`omnichat config init` writes the packaged file; no second copy can drift from it. The
    top-level config.example.toml, where a user looks first, is a link to it."""
    assert _copies("config.example.toml") == ["omnichat/data/config.example.toml"]
    top = REPO / "config.example.toml"
    assert top.is_symlink() and top.resolve() == EXAMPLE.resolve()
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    shipped = pyproject["tool"]["setuptools"]["package-data"]["omnichat"]
    assert any(fnmatch.fnmatch("data/config.example.toml", pattern) for pattern in shipped)
    assert starter_text() == EXAMPLE.read_text(encoding="utf-8")


def test_example_file_commented_values_are_valid(tmp_path):
    """Uncommenting a documented example value keeps the file valid (one at a time; the
    model-specific smooth_output needs a qwen3-omni-flash model)."""
    text = EXAMPLE.read_text(encoding="utf-8")
    lines = text.splitlines()
    remote = lines.index("# [mcp.remote.docs]")  # a commented table: uncommented whole
    examples = [i for i, line in enumerate(lines[:remote])
                if re.match(r"# [a-z_]+ = ", line) and not line.startswith("# url")]
    # 15 + the five reliability settings + echo_mode, barge_in + workspace, workspace_url,
    # video_compact, input_channels
    assert len(examples) == 26
    qwen38 = ("video_compact", "input_channels")
    for index in examples:
        changed = list(lines)
        changed[index] = lines[index][2:]
        if "smooth_output" in changed[index]:
            changed = [line.replace('model = "qwen3.5-omni-plus-realtime"',
                                    'model = "qwen3-omni-flash-realtime"') for line in changed]
        if changed[index].startswith(qwen38):
            changed = [line.replace('model = "qwen3.5-omni-plus-realtime"',
                                    'model = "qwen3.8-omni-flash-realtime"') for line in changed]
        load(tmp_path, "\n".join(changed) + "\n")
    block = lines[:remote] + [line[2:] for line in lines[remote:] if line.startswith("# ")]
    settings = load(tmp_path, "\n".join(block) + "\n")
    assert dict(settings.mcp_remote)["docs"]["require_approval"] == "always"


# --- precedence -------------------------------------------------------------------------------

LAYERS = {
    # setting: (flag value, env var, env value, file line, file value, default)
    "region": ("cn", "OMNICHAT_REGION", "local", 'region = "mine"', "mine", "intl"),
    "model": ("qwen3.5-omni-flash-realtime", "OMNICHAT_MODEL",
              "qwen3.5-omni-plus-realtime-2026-03-15", 'model = "qwen3.5-omni-flash-realtime"',
              "qwen3.5-omni-flash-realtime", "qwen3.5-omni-plus-realtime"),
    "voice": ("Ethan", "OMNICHAT_VOICE", "Serena", 'voice = "Maia"', "Maia", "Tina"),
    "instructions": ("from flag", "OMNICHAT_INSTRUCTIONS", "from env",
                     'instructions = "from file"', "from file", None),
}
COMBOS = list(itertools.product([False, True], repeat=3))


@pytest.mark.parametrize("name", sorted(LAYERS))
@pytest.mark.parametrize("use_flag,use_env,use_file", COMBOS)
def test_precedence(tmp_path, name, use_flag, use_env, use_file):
    flag_value, env_var, env_value, file_line, file_value, default = LAYERS[name]
    regions = ('[regions.local]\nurl = "ws://127.0.0.1:1/a"\n'
               '[regions.mine]\nurl = "ws://127.0.0.1:2/b"\n')
    settings = load(tmp_path, (file_line + "\n" if use_file else "") + regions,
                    flags={name: flag_value if use_flag else None},
                    environ={env_var: env_value} if use_env else {})
    expected, source = ((flag_value, "flag") if use_flag else (env_value, "env") if use_env
                        else (file_value, "file") if use_file else (default, "default"))
    assert getattr(settings, name) == expected
    assert settings.sources[name] == source


@pytest.mark.parametrize("use_flag,use_env,use_file", COMBOS)
def test_api_key_precedence_and_region_key_variable(tmp_path, use_flag, use_env, use_file):
    text = '[regions.intl]\napi_key_env = "MY_SG_KEY"\n' if use_file else ""
    env_var = "MY_SG_KEY" if use_file else "DASHSCOPE_API_KEY"
    settings = load(tmp_path, text, flags={"api_key": "sk-flag-key-1234" if use_flag else None},
                    environ={env_var: "sk-env-key-5678"} if use_env else {})
    assert settings.api_key_env == env_var
    expected = ("sk-flag-key-1234" if use_flag else "sk-env-key-5678" if use_env else None)
    assert settings.api_key == expected


def test_empty_environment_values_count_as_unset(tmp_path):
    settings = load(tmp_path, 'voice = "Maia"\n', environ={"OMNICHAT_VOICE": "",
                                                           "DASHSCOPE_API_KEY": ""})
    assert settings.voice == "Maia" and settings.api_key is None


def test_region_selects_url_and_a_file_can_override_it(tmp_path):
    assert load(tmp_path, 'region = "cn"\n').url == REGIONS["cn"].url
    workspace = "wss://ws-abc123.ap-southeast-1.maas.aliyuncs.com/api-ws/v1/realtime"
    settings = load(tmp_path, f'[regions.intl]\nurl = "{workspace}"\n')
    assert settings.url == workspace and settings.sources["url"] == "file"
    assert load(tmp_path, "", flags={"url": "ws://127.0.0.1:9/x"}).sources["url"] == "flag"


def test_a_region_of_your_own(tmp_path):
    settings = load(tmp_path, 'region = "local"\n[regions.local]\n'
                              'url = "ws://127.0.0.1:8765/api-ws/v1/realtime"\n'
                              'api_key_env = "LOCAL_KEY"\n', environ={"LOCAL_KEY": "anything"})
    assert settings.region == "local" and settings.url.startswith("ws://127.0.0.1")
    assert settings.api_key == "anything"


def test_turn_detection_from_flags_file_and_object(tmp_path):
    text = "[turn_detection]\nthreshold = 0.2\nsilence_duration_ms = 1200\n"
    settings = load(tmp_path, text, flags={"threshold": -0.5})
    assert settings.turn_detection == TurnDetection("server_vad", -0.5, 1200, 300)
    assert settings.sources["threshold"] == "flag"
    assert settings.sources["silence_duration_ms"] == "file"
    assert settings.sources["turn_detection"] == "flag"
    semantic = load(tmp_path, text, flags={"turn_detection": "semantic_vad"})
    assert semantic.turn_detection.type == "semantic_vad"
    given = TurnDetection("server_vad", 0.9, 400, 100)
    assert load(tmp_path, text, flags={"turn_detection": given}).turn_detection == given


def test_flag_values_and_types(tmp_path):
    settings = load(tmp_path, "", flags={"modalities": "audio,text", "input_device": 2,
                                         "output_device": "USB",
                                         "transcript_dir": tmp_path / "t", "top_k": 0})
    assert settings.modalities == ("text", "audio") and settings.input_device == 2
    assert settings.output_device == "USB"
    assert settings.transcript_dir == tmp_path / "t" and settings.top_k == 0


def test_unknown_flag_key_is_a_programming_error(tmp_path):
    with pytest.raises(TypeError):
        load(tmp_path, "", flags={"colour": "red"})


# --- the key is never shown -------------------------------------------------------------------

def test_api_key_not_in_repr(tmp_path):
    settings = load(tmp_path, "", environ={"DASHSCOPE_API_KEY": KEY})
    assert settings.api_key == KEY
    assert KEY not in repr(settings) and KEY not in str(settings)
    assert KEY[-8:] not in repr(settings)


# --- every validation error -------------------------------------------------------------------

def test_bad_toml_names_the_line(tmp_path):
    message = error(tmp_path, 'model = "x"\nvoice = \n')
    assert "config.toml: not valid TOML" in message and "line 2" in message
    assert "omnichat config init --force" in message


def test_non_utf8_file(tmp_path):
    path = tmp_path / "config.toml"
    path.write_bytes(b'voice = "\xff"\n')
    with pytest.raises(ConfigError, match="not UTF-8|not valid TOML"):
        load_settings(environ={}, path=path)


@pytest.mark.parametrize("text,expected", [
    ("temprature = 1\n", "key 'temprature': unknown key; did you mean 'sampling.temperature'?"),
    ("temperature = 1\n", "key 'temperature': unknown key; did you mean 'sampling.temperature'?"),
    ("[sampling]\ntop_pp = 1\n", "key 'sampling.top_pp': unknown key; did you mean "
                                 "'top_p'?"),
    ("[turn_detection]\nvoise = 1\n", "key 'turn_detection.voise': unknown key; did you mean "
                                       "'voice'? It is a top-level key"),
    ("[audoi]\necho_mode = \"off\"\n", "key 'audoi': unknown key; did you mean 'audio'?"),
    ("zzz = 1\n", "key 'zzz': unknown key; remove it"),
    ("[regions.intl]\nurll = \"wss://x\"\n", "key 'regions.intl.urll': unknown key; did you "
                                            "mean 'url'?"),
    ("[regions.intl]\nhost = \"x\"\n", "only url and api_key_env belong here"),
])
def test_unknown_keys_suggest_the_close_match(tmp_path, text, expected):
    message = error(tmp_path, text)
    assert re.match(rf"config file {re.escape(str(tmp_path / 'config.toml'))}:\d+, ", message)
    assert expected in message


def test_api_key_in_the_file_is_refused(tmp_path):
    message = error(tmp_path, 'api_key = "sk-secret-in-file"\n')
    assert "key 'api_key': API keys are not read from the config file" in message
    assert "export DASHSCOPE_API_KEY" in message and "sk-secret-in-file" not in message
    assert "not read" in error(tmp_path, '[regions.cn]\napi_key = "x"\n')


@pytest.mark.parametrize("text,expected", [
    ("voice = 3\n", "key 'voice': must be a string, got 3"),
    ("enable_search = \"yes\"\n", "key 'enable_search': must be true or false, got 'yes'"),
    ("modalities = \"text\"\n", "key 'modalities': must be a list of strings"),
    ("[turn_detection]\nthreshold = \"high\"\n", "must be a number, got 'high'"),
    ("[turn_detection]\nsilence_duration_ms = 800.5\n", "must be a whole number, got 800.5"),
    ("[sampling]\ntop_k = true\n", "key 'sampling.top_k': must be a whole number, got true"),
    ("[audio]\ninput_device = 1.5\n", "must be a device name (string) or index (number)"),
    ("turn_detection = \"manual\"\n", "key 'turn_detection': must be a table"),
    ("regions = 1\n", "key 'regions': must be a table"),
    ("[regions]\nurl = \"wss://x\"\n", "key 'regions': must hold tables like [regions.intl]"),
])
def test_wrong_types(tmp_path, text, expected):
    assert expected in error(tmp_path, text)


@pytest.mark.parametrize("text,expected", [
    ("[turn_detection]\nthreshold = 1.5\n",
     "key 'turn_detection.threshold': 1.5 is out of range; use a number from -1"),
    ("[turn_detection]\nthreshold = -1.01\n", "-1.01 is out of range"),
    ("[turn_detection]\nsilence_duration_ms = 100\n",
     "key 'turn_detection.silence_duration_ms': 100 is out of range; use a whole number of "
     "milliseconds from 200 to 6000"),
    ("[turn_detection]\nsilence_duration_ms = 6001\n", "6001 is out of range"),
    ("[turn_detection]\nprefix_padding_ms = -1\n", "-1 is out of range"),
    ("[sampling]\ntemperature = 2\n", "2 is out of range; use a number from 0 up to"),
    ("[sampling]\ntop_p = 0\n", "0 is out of range; use a number above 0 and at most 1"),
    ("[sampling]\ntop_k = -1\n", "-1 is out of range"),
    ("[sampling]\nmax_tokens = 0\n", "0 is out of range"),
    ("[sampling]\nrepetition_penalty = 0\n", "0 is out of range; use a number above 0"),
    ("[sampling]\npresence_penalty = 2.5\n", "2.5 is out of range; use a number from -2 to 2"),
    ("[sampling]\nseed = -1\n", "-1 is out of range"),
    ('model = "qwen-omni-turbo-realtime"\n[sampling]\nmax_tokens = 4096\n',
     "4096 is out of range; use a whole number from 1 to 2048 for qwen-omni-turbo-realtime"),
    ("[audio]\ninput_device = -2\n", "-2 is not a device; use a name from `omnichat devices`"),
    ("[audio]\noutput_device = \" \"\n", "is not a device"),
])
def test_ranges(tmp_path, text, expected):
    assert expected in error(tmp_path, text)


@pytest.mark.parametrize("value", ['["audio"]', '["text", "text"]', '[]', '["video", "text"]'])
def test_modalities(tmp_path, value):
    message = error(tmp_path, f"modalities = {value}\n")
    assert "key 'modalities': modalities" in message
    assert 'use ["text"] or ["text", "audio"]' in message


def test_modalities_any_order(tmp_path):
    assert load(tmp_path, 'modalities = ["audio", "text"]\n').modalities == ("text", "audio")


def test_voice_the_model_lacks(tmp_path):
    message = error(tmp_path, 'voice = "Chelsie"\n')
    assert message == (f"config file {tmp_path / 'config.toml'}:1, key 'voice': model "
                       "qwen3.5-omni-plus-realtime (from the built-in default) has no voice "
                       "'Chelsie'; run `omnichat voices --model qwen3.5-omni-plus-realtime` "
                       "to list its voices")


def test_cherry_is_accepted_on_qwen35_as_in_the_vendor_samples(tmp_path):
    settings = load_settings({"voice": "Cherry"}, environ={}, path=tmp_path / "none.toml")
    assert settings.model == "qwen3.5-omni-plus-realtime"
    assert settings.session_payload()["voice"] == "Cherry"


def test_voice_case_mistake_is_suggested_and_flags_are_named(tmp_path):
    message = error(tmp_path, 'model = "qwen-omni-turbo-realtime"\n', flags={"voice": "cherry"})
    assert message.startswith("flag --voice: model qwen-omni-turbo-realtime (from config file ")
    assert "did you mean 'Cherry'?" in message
    assert "omnichat voices --model qwen-omni-turbo-realtime" in message


def test_voice_from_env_against_model_flag(tmp_path):
    message = error(tmp_path, flags={"model": "qwen3-omni-flash-realtime"},
                    environ={"OMNICHAT_VOICE": "Bellona"})
    assert message.startswith("environment variable OMNICHAT_VOICE: model "
                              "qwen3-omni-flash-realtime (from flag --model) has no voice")


def test_unknown_model(tmp_path):
    message = error(tmp_path, environ={"OMNICHAT_MODEL": "qwen3.5-omni-plus"})
    assert message.startswith("environment variable OMNICHAT_MODEL: unknown model "
                              "'qwen3.5-omni-plus'; did you mean")
    assert "known models: qwen3.5-omni-plus-realtime, " in message
    assert error(tmp_path, 'model = "gpt"\n').startswith(
        f"config file {tmp_path / 'config.toml'}:1, key 'model': unknown model 'gpt'")


@pytest.mark.parametrize("text,flags,expected", [
    ('model = "qwen3-omni-flash-realtime"\nenable_search = true\n', None,
     "key 'enable_search': enable_search needs a qwen3.5-omni model, but the model is "
     "qwen3-omni-flash-realtime (from config file"),
    ("", {"model": "qwen-omni-turbo-realtime", "enable_search": True},
     "flag --search: enable_search needs a qwen3.5-omni model, but the model is "
     "qwen-omni-turbo-realtime (from flag --model); remove enable_search or choose such a model"),
    ('model = "qwen-omni-turbo-realtime"\n[turn_detection]\ntype = "semantic_vad"\n', None,
     "key 'turn_detection.type': semantic_vad needs a qwen3.5-omni model, but the model is "
     "qwen-omni-turbo-realtime (from config file"),
    ("smooth_output = true\n", None,
     "key 'smooth_output': smooth_output needs a qwen3-omni-flash model, but the model is "
     "qwen3.5-omni-plus-realtime (from the built-in default)"),
])
def test_features_the_model_lacks(tmp_path, text, flags, expected):
    assert expected in error(tmp_path, text, flags)


def test_enable_search_false_is_fine_on_any_model(tmp_path):
    load(tmp_path, 'model = "qwen-omni-turbo-realtime"\nenable_search = false\n')


def test_unknown_turn_detection_type(tmp_path):
    message = error(tmp_path, '[turn_detection]\ntype = "push"\n')
    assert message.endswith("key 'turn_detection.type': turn_detection 'push' is unknown; "
                            "use server_vad, semantic_vad or manual")
    message = error(tmp_path, "", flags={"turn_detection": "semantic-vad"})
    assert message == ("flag --turn-detection: turn_detection 'semantic-vad' is unknown; use "
                       "server_vad, semantic_vad or manual; did you mean 'semantic_vad'?")


def test_unknown_region(tmp_path):
    message = error(tmp_path, "", environ={"OMNICHAT_REGION": "sg"})
    assert message.startswith("environment variable OMNICHAT_REGION: unknown region 'sg'")
    assert "known regions: intl, cn (define another with a [regions.NAME] table" in message


def test_own_region_needs_a_url(tmp_path):
    message = error(tmp_path, 'region = "local"\n[regions.local]\napi_key_env = "K"\n')
    assert "table [regions.local]: a region of your own needs a url" in message


@pytest.mark.parametrize("url", ["https://dashscope-intl.aliyuncs.com", "wss://", "dashscope"])
def test_bad_url(tmp_path, url):
    message = error(tmp_path, f'[regions.intl]\nurl = "{url}"\n')
    assert f"key 'regions.intl.url': '{url}' is not a WebSocket URL" in message


def test_bad_api_key_env_name(tmp_path):
    message = error(tmp_path, '[regions.cn]\napi_key_env = "MY-KEY"\n', flags={"region": "cn"})
    assert "key 'regions.cn.api_key_env': 'MY-KEY' is not an environment variable name" in message


def test_flag_type_errors_name_the_flag(tmp_path):
    assert error(tmp_path, "", flags={"threshold": "x"}).startswith(
        "flag --threshold: must be a number, got 'x'")
    assert error(tmp_path, "", flags={"silence_duration_ms": 50}).startswith(
        "flag --silence-duration-ms: 50 is out of range")


def test_empty_transcript_dir_is_refused_not_turned_into_the_current_folder(tmp_path):
    message = error(tmp_path, 'transcript_dir = ""\n')
    assert message == (f"config file {tmp_path / 'config.toml'}:1, key 'transcript_dir': "
                       'transcript_dir is empty; give a directory such as '
                       '"~/omnichat-transcripts", or remove the key for the default')


def test_a_directory_where_the_config_file_should_be(tmp_path):
    folder = tmp_path / "config.toml"
    folder.mkdir()
    with pytest.raises(ConfigError) as info:
        load_settings(environ={}, path=folder)
    assert str(info.value) == (f"config file {folder} is a directory; point OMNICHAT_CONFIG at "
                               "a file, or remove the directory and run `omnichat config init`")
