"""Settings: a TOML file with one table per region, folded into one frozen ``Settings``.

Precedence, highest first: flags > environment > config file > built-in defaults. Every value
remembers where it came from, so a bad value is reported as one line naming the flag, the
environment variable or the file and key, plus the fix, before any connection is attempted.

The API key is read only from a flag or from the region's environment variable (never from
the file) and is declared ``repr=False``; nothing in this module prints it.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any
from urllib.parse import quote

import platformdirs

from omnichat.catalog import MODELS, REGIONS, Region
from omnichat.config.fields import TurnDetection, declared, from_table
from omnichat.config.schema import (
    Problems,
    Value,
    check_kind,
    key_lines,
    key_suggestion,
    suggest,
    validate_all,
)
from omnichat.config.table import (
    BY_NAME,
    ENV_VARS,
    FILE_KEYS,
    RAW_TABLES,
    REGION_KEYS,
    SAMPLING_NAMES,
    SETTINGS,
    TABLES,
    TURN_DETECTION_PARTS,
    default_transcript_dir,
    flag_name,
)
from omnichat.errors import ConfigError
from omnichat.protocol import session_fields

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

DEFAULT_API_KEY_ENV = BY_NAME["api_key_env"].default
WORKSPACE_HEADER = "X-DashScope-WorkSpace"  # optional upgrade header (the SDK's workspace=)
CONFIG_ENV = "OMNICHAT_CONFIG"
__all__ = ["Settings", "TurnDetection", "config_path", "default_transcript_dir", "load_settings"]


@dataclass(frozen=True, kw_only=True)
@from_table
class Settings:
    """Every setting, resolved. Defaults, help and limits are the table's (config/table.py)."""

    region: str = declared()
    url: str = declared()
    api_key_env: str = declared()
    api_key: str | None = declared(repr=False)
    model: str = declared()
    voice: str = declared()
    instructions: str | None = declared()
    modalities: tuple[str, ...] = declared()
    # The turn_detection row (its type) and the TURN_DETECTION_PARTS rows; None: manual.
    turn_detection: TurnDetection | None = field(default_factory=TurnDetection)
    temperature: float | None = declared()  # sampling: None = not sent, the model's default
    top_p: float | None = declared()
    top_k: int | None = declared()
    max_tokens: int | None = declared()
    repetition_penalty: float | None = declared()
    presence_penalty: float | None = declared()
    seed: int | None = declared()
    smooth_output: bool | None = declared()
    enable_search: bool = declared()
    input_device: str | int | None = declared()
    output_device: str | int | None = declared()
    echo_mode: str = declared()  # docs/echo.md
    barge_in: str = declared()  # local barge-in sensitivity (docs/echo.md)
    transcript_dir: Path = declared()
    allow_insecure: bool = declared()  # ws:// to a host that is not this machine
    connect_timeout_s: float = declared()
    reconnect_attempts: int = declared()  # omnichat.engine.reconnect, docs/reliability.md
    session_rollover_min: float = declared()
    context_replay_turns: int = declared()
    context_replay_chars: int = declared()
    workspace: str | None = declared()  # docs/qwen38.md: the workspace endpoint and header
    workspace_url: str = declared()  # the region's workspace endpoint template ("": none)
    input_channels: int = declared()  # microphone channels sent (2 or 4: qwen3.8 only)
    video_compact: str | None = declared()  # video.input.representation_compact (qwen3.8)
    max_reply_audio_s: float = declared()  # omnichat.engine.replies
    # Passed through unchecked for the tools and MCP code: the [tools] table and the
    # [mcp.servers.NAME] tables, as read from the file.
    tools: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    mcp_servers: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    # [mcp.remote.NAME]: MCP servers the service calls itself (omnichat.tools.remote).
    mcp_remote: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    config_file: Path | None = None
    sources: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))

    def endpoint(self) -> str:
        """The WebSocket URL with the model as query parameter."""
        joiner = "&" if "?" in self.url else "?"
        return f"{self.url}{joiner}model={quote(self.model, safe='')}"

    def headers(self) -> dict[str, str]:
        """Extra headers of the WebSocket upgrade: the workspace, when one is set."""
        return {WORKSPACE_HEADER: self.workspace} if self.workspace else {}

    def session_payload(self) -> dict[str, Any]:
        """The ``session`` object of the first ``session.update``; unset options are omitted."""
        session: dict[str, Any] = {"modalities": list(self.modalities), "voice": self.voice}
        if self.instructions:
            session["instructions"] = self.instructions
        model = MODELS.get(self.model)
        if model is not None and model.input_channels != (1,):
            # qwen3.8: the nested audio object instead of the legacy format names; its
            # audio.output.voice wins over voice, so both say the same (docs/qwen38.md).
            session["audio"] = session_fields.audio_object(self.voice, self.input_channels)
        else:
            session["input_audio_format"] = "pcm"
            session["output_audio_format"] = "pcm"
        if self.video_compact is not None:
            session["video"] = session_fields.video_object(self.video_compact)
        session["turn_detection"] = _turn_detection_payload(self.turn_detection)
        for name in SAMPLING_NAMES:
            value = getattr(self, name)
            if value is not None:
                session[name] = value
        if self.enable_search:
            session["enable_search"] = True
        if self.smooth_output is not None:
            session["smooth_output"] = self.smooth_output
        return session


def _turn_detection_payload(td: TurnDetection | None) -> dict[str, Any] | None:
    if td is None:
        return None
    parts = {name: getattr(td, name) for name in TURN_DETECTION_PARTS}
    return {"type": td.type, **parts, "create_response": True, "interrupt_response": True}


def config_path(environ: Mapping[str, str] | None = None) -> Path:
    """``$OMNICHAT_CONFIG`` if set, else ``config.toml`` in the user config directory."""
    environ = os.environ if environ is None else environ
    if environ.get(CONFIG_ENV):
        return Path(environ[CONFIG_ENV]).expanduser()
    return Path(platformdirs.user_config_dir("omnichat")) / "config.toml"


def load_settings(flags: Mapping[str, Any] | None = None, *,
                  environ: Mapping[str, str] | None = None,
                  path: Path | None = None) -> Settings:
    """Merge flags, environment, file and defaults into validated ``Settings``.

    ``flags`` keys are the names of the table's rows; a ``None`` value means "not given".
    Besides the fields, the ``TURN_DETECTION_PARTS`` rows tune the turn detection, and
    ``turn_detection`` may be a ``TurnDetection``, ``"server_vad"``, ``"semantic_vad"`` or
    ``"manual"`` (push-to-talk). Raises ``ConfigError`` (one line) on any bad value.
    """
    environ = os.environ if environ is None else environ
    path = path if path is not None else config_path(environ)
    document = _read_file(path) or {}
    problems = Problems()  # every mistake of the file at once, one line each
    file_values, file_regions = _from_file(document, path, problems)
    raw: dict[str, Any] = _raw_tables(document, path)
    layered: dict[str, Value] = {}
    layered.update(file_values)
    layered.update(_from_env(environ))
    layered.update(_from_flags(flags or {}))
    try:
        region_values = _resolve_region(layered, file_regions, environ, flags or {}, path)
    except ConfigError as exc:  # nothing to check the rest against: report what is known
        problems.add(exc)
        problems.raise_all()
        raise
    layered.update(region_values)
    resolved = validate_all(layered, problems)
    problems.raise_all()
    assert resolved is not None  # no problems: validated
    sources = {name: value.source for name, value in layered.items()}
    sources.update({name: "file" for name in raw})
    return Settings(**resolved, **raw, config_file=path if path.is_file() else None,
                    sources=MappingProxyType(_complete_sources(sources)))


def _read_file(path: Path) -> dict[str, Any] | None:
    # A missing file means built-in defaults; `config show` says which file it looked for.
    if not path.exists():
        return None
    if path.is_dir():
        raise ConfigError(f"config file {path} is a directory; point OMNICHAT_CONFIG at a "
                          f"file, or remove the directory and run `omnichat config init`")
    try:
        with path.open("rb") as handle:
            document: dict[str, Any] = tomllib.load(handle)
            return document
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path}: not valid TOML: {exc}; fix that line or "
                          f"start again with `omnichat config init --force`") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"config file {path}: not UTF-8 text; save it as UTF-8") from exc
    except OSError as exc:
        raise ConfigError(f"config file {path} cannot be read: {exc.strerror}; "
                          f"check its permissions") from exc


def _from_file(document: Mapping[str, Any], path: Path, problems: Problems
               ) -> tuple[dict[str, Value], dict[str, dict[str, Value]]]:
    """The file's values; each bad key is noted in ``problems`` and skipped."""
    values: dict[str, Value] = {}
    regions: dict[str, dict[str, Value]] = {}
    lines = _key_lines(path) if document else {}
    for key, item in document.items():
        try:
            if key in TABLES and not isinstance(item, dict):
                raise ConfigError(f"{_file_where(path, key, lines)}: must be a table; write "
                                  f"it as [{key}] followed by its keys")
            if key == "regions":
                regions = _file_regions(item, path, lines)
            elif key in TABLES and key not in RAW_TABLES:
                for sub, subitem in item.items():
                    try:
                        values.update(_file_value(f"{key}.{sub}", subitem, path, lines))
                    except ConfigError as exc:
                        problems.add(exc)
            elif key not in RAW_TABLES:
                values.update(_file_value(key, item, path, lines))
        except ConfigError as exc:
            problems.add(exc)
    return values, regions


def _key_lines(path: Path) -> dict[str, int]:
    try:
        return key_lines(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError):
        return {}


def _file_where(path: Path, dotted: str, lines: Mapping[str, int]) -> str:
    """``config file PATH:LINE, key 'x'`` (the line where it is set, when known)."""
    line = lines.get(dotted)
    return f"config file {path}{f':{line}' if line else ''}, key '{dotted}'"


def _file_value(dotted: str, item: Any, path: Path,
                lines: Mapping[str, int] | None = None) -> dict[str, Value]:
    where = _file_where(path, dotted, lines or {})
    if dotted == "api_key" or dotted.endswith(".api_key"):
        raise ConfigError(f"{where}: API keys are not read from the config file; delete the "
                          f"line and export {DEFAULT_API_KEY_ENV} (or the region's api_key_env)")
    if dotted not in FILE_KEYS:
        hint = key_suggestion(dotted, FILE_KEYS, TABLES) or "; remove it"
        raise ConfigError(f"{where}: unknown key{hint}")
    setting = FILE_KEYS[dotted]
    check_kind(setting.kind, item, where)
    return {setting.name: Value(item, "file", where)}


def _raw_tables(document: Mapping[str, Any], path: Path) -> dict[str, Mapping[str, Any]]:
    """[tools] and [mcp.servers.NAME], unchecked here: the tools and MCP code read them."""
    raw: dict[str, Mapping[str, Any]] = {}
    if isinstance(document.get("tools"), dict):  # not a table: already a problem noted
        raw["tools"] = MappingProxyType(document["tools"])
    mcp = document.get("mcp")
    if isinstance(mcp, dict):
        servers, remote = mcp.get("servers", {}), mcp.get("remote", {})
        unknown = [key for key in mcp if key not in ("servers", "remote")]
        if unknown or not all(isinstance(group, dict) and all(
                isinstance(table, dict) for table in group.values())
                for group in (servers, remote)):
            raise ConfigError(f"config file {path}, key 'mcp': only [mcp.servers.NAME] and "
                              f"[mcp.remote.NAME] tables belong here; write each server as "
                              f"one of those")
        if "servers" in mcp:
            raw["mcp_servers"] = MappingProxyType(servers)
        if "remote" in mcp:
            raw["mcp_remote"] = MappingProxyType(remote)
    return raw


def _file_regions(item: Any, path: Path,
                  lines: Mapping[str, int]) -> dict[str, dict[str, Value]]:
    if not isinstance(item, dict) or not all(isinstance(v, dict) for v in item.values()):
        raise ConfigError(f"config file {path}, key 'regions': must hold tables like "
                          f"[regions.intl] with url and api_key_env")
    regions: dict[str, dict[str, Value]] = {}
    for region, table in item.items():
        regions[region] = {}
        for key, value in table.items():
            dotted = f"regions.{region}.{key}"
            where = _file_where(path, dotted, lines)
            if key == "api_key":
                _file_value(dotted, value, path, lines)  # the "no keys in the file" error
            if key not in REGION_KEYS:
                hint = suggest(key, REGION_KEYS) or "; only url and api_key_env belong here"
                raise ConfigError(f"{where}: unknown key{hint}")
            check_kind(REGION_KEYS[key], value, where)
            regions[region][key] = Value(value, "file", where)
    return regions


def _from_env(environ: Mapping[str, str]) -> dict[str, Value]:
    values = {}
    for name, var in ENV_VARS.items():
        if environ.get(var):
            where = f"environment variable {var}"
            values[name] = Value(_parse_env(BY_NAME[name].kind, environ[var], where), "env", where)
    return values


def _parse_env(kind: str, text: str, where: str) -> Any:
    """An environment variable's text as the setting's kind (a number for numbers, ...)."""
    try:
        if kind == "int":
            return int(text)
        if kind == "float":
            return float(text)
    except ValueError:
        noun = "a whole number" if kind == "int" else "a number"
        raise ConfigError(f"{where}: must be {noun}, got {text!r}; change or unset it") from None
    if kind == "bool":
        if text.lower() not in ("1", "true", "yes", "0", "false", "no"):
            raise ConfigError(f"{where}: must be true or false, got {text!r}; change or unset it")
        return text.lower() in ("1", "true", "yes")
    return text


_FLAG_KINDS = {setting.name: setting.kind for setting in SETTINGS}


def _from_flags(flags: Mapping[str, Any]) -> dict[str, Value]:
    values: dict[str, Value] = {}
    for name, value in flags.items():
        if name not in _FLAG_KINDS:
            raise TypeError(f"load_settings() got an unknown flag key {name!r}")
        if value is None:
            continue
        where = f"flag {flag_name(name)}"
        if isinstance(value, TurnDetection):
            values.update(_turn_detection_flag(value, where))
            continue
        if name == "modalities" and isinstance(value, str):
            value = [part.strip() for part in value.split(",") if part.strip()]
        check_kind(_FLAG_KINDS[name], value, where)
        values[name] = Value(value, "flag", where)
    return values


def _turn_detection_flag(td: TurnDetection, where: str) -> dict[str, Value]:
    values = {name: Value(getattr(td, name), "flag", where) for name in TURN_DETECTION_PARTS}
    return {"turn_detection": Value(td.type, "flag", where), **values}


def _resolve_region(layered: Mapping[str, Value], file_regions: Mapping[str, Mapping[str, Value]],
                    environ: Mapping[str, str], flags: Mapping[str, Any],
                    path: Path) -> dict[str, Value]:
    """The region, its URL, its key variable and the key itself, each with its source."""
    region = layered.get("region", Value(BY_NAME["region"].default, "default", "built-in default"))
    known = {**{name: {} for name in REGIONS}, **file_regions}
    if region.value not in known:
        raise ConfigError(f"{region.where}: unknown region '{region.value}'"
                          f"{suggest(region.value, known)}; known regions: {', '.join(known)} "
                          f"(define another with a [regions.NAME] table and its url)")
    table = file_regions.get(region.value, {})
    builtin: Region | None = REGIONS.get(region.value)
    if builtin is None and "url" not in table:
        raise ConfigError(f"config file {path}, table [regions.{region.value}]: a region of "
                          f"your own needs a url; add url = \"wss://...\"")
    url = (layered.get("url") or table.get("url")
           or Value(builtin.url if builtin else "", "default", "default"))
    key_env = (layered.get("api_key_env") or table.get("api_key_env")
               or Value(DEFAULT_API_KEY_ENV, "default", "default"))
    values = {"region": region, "url": url, "api_key_env": key_env}
    values["workspace_url"] = table.get("workspace_url") or Value(
        builtin.workspace_url if builtin else "", "default", "default")
    if flags.get("api_key"):
        values["api_key"] = layered["api_key"]
    elif environ.get(key_env.value):
        values["api_key"] = Value(environ[key_env.value], "env", f"environment variable "
                                                               f"{key_env.value}")
    return values


def _complete_sources(sources: Mapping[str, str]) -> dict[str, str]:
    """Every setting gets a source; turn_detection takes its strongest part's."""
    rank = {"default": 0, "file": 1, "env": 2, "flag": 3}
    parts = ("turn_detection", *TURN_DETECTION_PARTS)
    strongest = max((sources.get(p, "default") for p in parts), key=rank.__getitem__)
    names = [setting.name for setting in SETTINGS] + ["tools", "mcp_servers", "mcp_remote"]
    complete = {name: sources.get(name, "default") for name in names}
    complete["turn_detection"] = strongest
    return complete
