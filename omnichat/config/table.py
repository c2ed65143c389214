"""The one declaration of every setting: name, kind, range, default, flag, variable, file key.

Everything else is derived from ``SETTINGS``: the fields and defaults of
``omnichat.config.settings.Settings`` (each field is ``declared()``, see
``omnichat.config.fields``), the config file's keys (``FILE_KEYS``), the environment
variables (``ENV_VARS``), the kinds ``load_settings`` accepts for flags, the ``talk`` and
``ptt`` setting flags (``omnichat.config.flags``), the checks of ``validate``
(``omnichat.config.schema`` loops over this table), ``config show`` and
``docs/configuration.md`` (``omnichat.config.commands.settings_markdown``).

A setting that has no effect yet is kept in the table with ``available=False`` and a
``refusal`` saying what to use instead: it is refused wherever it is given and shown nowhere.
Enabling it is a one-line change here. A value of a choice that has no effect yet is listed
in ``refused_values`` the same way.

Adding a setting: one ``Setting(...)`` row below, and one ``name: type = declared()`` line on
``Settings`` (the Python type is what mypy checks; the default, help and everything else come
from the row, and ``tests/test_settings_declared.py`` fails if the two disagree). Then
document it in ``omnichat/data/config.example.toml`` and regenerate ``docs/configuration.md`` from
``settings_markdown()`` (a test compares them). A sent setting also needs its place in
``Settings.session_payload``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import platformdirs

from omnichat.catalog import DEFAULT_MODEL, REGIONS, get_model
from omnichat.protocol import limits
from omnichat.protocol.limits import Range


@dataclass(frozen=True)
class Setting:
    """One setting. ``kind`` is str, bool, int, float, str_list, device or path."""

    name: str  # the attribute of config.settings.Settings and the key of load_settings flags
    kind: str
    default: Any
    help: str
    key: str | None = None  # dotted key in the config file; None: not read from the file
    flag: str | None = None  # the `talk` flag; None: no flag
    short: str | None = None  # a one-letter alias of the flag
    flag_value: Any = None  # not None: the flag is a plain switch that sets this value
    flag_help: str = ""  # the flag's help when it differs from ``help``
    default_text: str = ""  # the default in words, when it is not a fixed value
    env: str | None = None  # environment variable; None: none
    limits: Range | None = None
    choices: tuple[str, ...] = ()
    sent: bool = False  # part of the session.update the service receives
    available: bool = True
    refusal: str = ""  # why it is refused and what to use instead (when not available)
    refused_values: Mapping[str, str] = field(default_factory=dict)  # value -> refusal
    default_factory: Callable[[], Any] | None = None  # a default made when it is needed

    def default_value(self) -> Any:
        """The built-in default, made afresh when the row has a ``default_factory``."""
        return self.default_factory() if self.default_factory is not None else self.default


def default_transcript_dir() -> Path:
    """`transcripts` in the user data directory: where transcripts go unless configured."""
    return Path(platformdirs.user_data_dir("omnichat")) / "transcripts"


DEFAULT_REGION = "intl"
# The voice depends on the model: when none is given, the model's own default voice is used
# (schema._voice). The declared default is the default model's: Tina, as a real
# session.created of a qwen3.5-omni model shows (docs/protocol.md §4.2, §7.1).
DEFAULT_VOICE = get_model(DEFAULT_MODEL).default_voice

SETTINGS: tuple[Setting, ...] = (
    Setting("region", "str", DEFAULT_REGION, "Service region: intl (Singapore), cn (Beijing) or a "
            "[regions.NAME] of your own.", key="region", flag="--region", env="OMNICHAT_REGION"),
    Setting("url", "str", REGIONS[DEFAULT_REGION].url, "WebSocket endpoint of the region.",
            key="regions.NAME.url", default_text="the region's"),
    Setting("api_key_env", "str", "DASHSCOPE_API_KEY", "Environment variable holding the "
            "region's API key (the key is never read from the file).",
            key="regions.NAME.api_key_env"),
    Setting("api_key", "str", None, "The API key (never read from the file).",
            default_text="the value of api_key_env"),
    Setting("model", "str", DEFAULT_MODEL, "Model id (`omnichat voices --model M`).",
            key="model", flag="--model", short="-m", env="OMNICHAT_MODEL", sent=True),
    Setting("voice", "str", DEFAULT_VOICE, "Voice of the replies.", key="voice", flag="--voice",
            env="OMNICHAT_VOICE", sent=True, default_text="the model's"),
    Setting("instructions", "str", None, "System prompt: the assistant's role and goal.",
            key="instructions", flag="--instructions", env="OMNICHAT_INSTRUCTIONS", sent=True),
    Setting("modalities", "str_list", ("text", "audio"), "[\"text\", \"audio\"] or "
            "[\"text\"] (text replies only).", key="modalities", flag="--text-only",
            flag_value=("text",), flag_help="Text replies only, no audio.", sent=True),
    Setting("turn_detection", "str", "server_vad", "How a turn ends: server_vad (silence), "
            "semantic_vad (also meaning; qwen3.5-omni) or manual (push-to-talk: `talk` then "
            "runs as `omnichat ptt`).", key="turn_detection.type",
            choices=("server_vad", "semantic_vad", "manual"), sent=True),
    Setting("threshold", "float", 0.5, "Speech detection threshold; lower is more sensitive.",
            key="turn_detection.threshold", limits=limits.THRESHOLD, sent=True),
    Setting("silence_duration_ms", "int", 800, "Silence that ends a turn (ms).",
            key="turn_detection.silence_duration_ms", limits=limits.SILENCE_DURATION_MS,
            sent=True),
    Setting("prefix_padding_ms", "int", 300, "Audio kept from before the start of speech (ms).",
            key="turn_detection.prefix_padding_ms", limits=limits.PREFIX_PADDING_MS, sent=True),
    Setting("temperature", "float", None, "Higher is more varied (unset: the model's default).",
            key="sampling.temperature", limits=limits.TEMPERATURE, sent=True),
    Setting("top_p", "float", None, "Nucleus sampling.", key="sampling.top_p",
            limits=limits.TOP_P, sent=True),
    Setting("top_k", "int", None, "Candidates per token; above 100 disables top_k.",
            key="sampling.top_k", limits=limits.TOP_K, sent=True),
    Setting("max_tokens", "int", None, "Cap on a reply's tokens (at most the model's output "
            "limit).", key="sampling.max_tokens", limits=limits.MAX_TOKENS, sent=True),
    Setting("repetition_penalty", "float", None, "Higher repeats less.",
            key="sampling.repetition_penalty", limits=limits.REPETITION_PENALTY, sent=True),
    Setting("presence_penalty", "float", None, "Higher brings in new topics.",
            key="sampling.presence_penalty", limits=limits.PRESENCE_PENALTY, sent=True),
    Setting("seed", "int", None, "For more repeatable replies.", key="sampling.seed",
            limits=limits.SEED, sent=True),
    Setting("smooth_output", "bool", None, "Conversational (true) or written (false) speech; "
            "qwen3-omni-flash only.", key="smooth_output", sent=True),
    Setting("enable_search", "bool", False, "Let the model search the web (qwen3.5-omni).",
            key="enable_search", flag="--search", flag_value=True, sent=True),
    Setting("input_device", "device", None, "Microphone: index or (part of a) name from "
            "`omnichat devices`.", key="audio.input_device", flag="--input-device"),
    Setting("output_device", "device", None, "Speaker: index or (part of a) name from "
            "`omnichat devices`.", key="audio.output_device", flag="--output-device"),
    Setting("echo_mode", "str", "auto", "Keeping the assistant from hearing itself on "
            "speakers: auto, aec (echo canceller), gate, half-duplex or off (headphones); "
            "see docs/echo.md.", key="audio.echo_mode", flag="--echo",
            choices=("auto", "aec", "gate", "half-duplex", "off")),
    Setting("barge_in", "str", "medium", "Local barge-in: how readily your voice over a "
            "reply stops it before the service hears you (low, medium, high, or off).",
            key="audio.barge_in", flag="--barge-in", choices=("low", "medium", "high", "off")),
    Setting("transcript_dir", "path", None, "Where transcripts are saved.",
            key="transcript_dir", default_text="`transcripts` in the user data directory",
            default_factory=default_transcript_dir),
    Setting("allow_insecure", "bool", False, "Allow an unencrypted ws:// URL to a host that "
            "is not this machine.", key="allow_insecure", flag="--allow-insecure",
            flag_value=True),
    Setting("connect_timeout_s", "float", 10.0, "Seconds to wait for the connection and its "
            "handshake.", key="connect_timeout_s", flag="--connect-timeout",
            env="OMNICHAT_CONNECT_TIMEOUT_S", limits=Range(0, 300, open_low=True)),
    Setting("reconnect_attempts", "int", 8, "Attempts to restore a dropped connection "
            "(exponential backoff with jitter, up to 30 s apart); 0: end at the first drop.",
            key="reconnect_attempts", limits=Range(0, 100)),
    Setting("session_rollover_min", "float", 110.0, "Minutes after which a session is "
            "replaced by a fresh one during a pause (the service ends sessions at 120).",
            key="session_rollover_min", limits=Range(1, 119)),
    Setting("context_replay_turns", "int", 20, "After a reconnection or rollover, how many "
            "recent turns the new session is told.", key="context_replay_turns",
            limits=Range(0, 500)),
    Setting("context_replay_chars", "int", 4000, "Character budget of those turns.",
            key="context_replay_chars", limits=Range(0, 100_000)),
    Setting("workspace", "str", None, "Model Studio workspace id (e.g. llm-...): connects to "
            "the region's workspace endpoint and names the workspace in the "
            "X-DashScope-WorkSpace header; qwen3.8 needs it (docs/qwen38.md).",
            key="workspace", flag="--workspace", env="OMNICHAT_WORKSPACE"),
    Setting("workspace_url", "str", REGIONS[DEFAULT_REGION].workspace_url,
            "The region's workspace endpoint; {workspace} "
            "stands for the workspace id.", key="regions.NAME.workspace_url",
            default_text="the region's"),
    Setting("input_channels", "int", 1, "Microphone channels sent: 1, or 2 or 4 from a "
            "microphone array (qwen3.8; twice the audio tokens).",
            key="audio.input_channels", flag="--input-channels", limits=Range(1, 4),
            sent=True),
    Setting("video_compact", "str", None, "normal: about a quarter of the video tokens per "
            "image (qwen3.8); none: full detail.", key="video_compact",
            choices=("none", "normal"), sent=True, default_text="the model's (none)"),
    Setting("max_reply_audio_s", "float", 300.0, "A reply whose audio runs longer than this "
            "(or ten times what its text takes to say) is ended with a notice.",
            key="max_reply_audio_s", limits=Range(10, 3600)),
)

BY_NAME: Mapping[str, Setting] = {s.name: s for s in SETTINGS}
# Keys under [regions.NAME] are read per region (omnichat.config.settings._file_regions).
FILE_KEYS: Mapping[str, Setting] = {s.key: s for s in SETTINGS
                                    if s.key and not s.key.startswith("regions.")}
ENV_VARS: Mapping[str, str] = {s.name: s.env for s in SETTINGS if s.env}
REGION_KEYS: Mapping[str, str] = {"url": "str", "api_key_env": "str", "workspace_url": "str"}
# Tables passed through unchecked, as raw dicts (read by the tools and MCP code).
RAW_TABLES = ("tools", "mcp")
TABLES = ("turn_detection", "sampling", "audio", "regions", *RAW_TABLES)
SAMPLING_NAMES = tuple(s.name for s in SETTINGS if s.key and s.key.startswith("sampling."))
# The rows that tune the turn detection; with the `turn_detection` row (its type) they make
# one ``TurnDetection`` value on ``Settings``.
TURN_DETECTION_PARTS = tuple(s.name for s in SETTINGS if s.key and s.name != "turn_detection"
                             and s.key.startswith("turn_detection."))


def flag_name(name: str) -> str:
    """The flag that sets ``name`` (``--search``), or ``--name`` for settings without one."""
    setting = BY_NAME.get(name)
    if setting is not None and setting.flag:
        return setting.flag
    return "--" + name.replace("_", "-")
