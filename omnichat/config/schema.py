"""Checking values against the settings table: kinds, choices, ranges and model features.

The table itself (names, kinds, ranges, flags, variables, file keys) is ``config.table``;
``config.settings`` gathers values from flags, environment and file, each tagged with where it
came from (a ``Value``); ``validate`` loops over the table and turns them into ``Settings``
arguments, or raises a one-line ``ConfigError`` that names that origin and the fix. Values
that the table marks as not available yet are refused here, with the table's text saying what
to use instead. Most rows need only their kind, choices and range; the few whose check depends
on the model or on a special format are listed in ``_CHECKS``.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from omnichat.catalog import MODELS, Model, workspace_url
from omnichat.config.fields import TurnDetection
from omnichat.config.table import BY_NAME, SETTINGS, TURN_DETECTION_PARTS, Setting
from omnichat.errors import ConfigError
from omnichat.protocol import limits
from omnichat.protocol.limits import Range


@dataclass(frozen=True)
class Value:
    value: Any
    source: str  # "flag" | "env" | "file" | "default"
    where: str  # "flag --voice", "environment variable OMNICHAT_MODEL", "config file X, key 'y'"


_KIND_TEXT = {
    "str": "a string", "bool": "true or false", "int": "a whole number", "float": "a number",
    "str_list": "a list of strings", "device": "a device name (string) or index (number)",
    "path": "a path (string)",
}


def check_kind(kind: str, value: Any, where: str) -> None:
    checks: dict[str, Callable[[Any], bool]] = {
        "str": lambda v: isinstance(v, str),
        "bool": lambda v: isinstance(v, bool),
        "int": lambda v: isinstance(v, int) and not isinstance(v, bool),
        "float": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
        "str_list": lambda v: isinstance(v, (list, tuple)) and all(isinstance(x, str) for x in v),
        "device": lambda v: isinstance(v, (str, int)) and not isinstance(v, bool),
        "path": lambda v: isinstance(v, (str, Path)),
    }
    if not checks[kind](value):
        raise ConfigError(f"{where}: must be {_KIND_TEXT[kind]}, got {_show(value)}; "
                          f"change the value")


def _show(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "a table"
    return repr(value) if not isinstance(value, (list, tuple)) else repr(list(value))


def suggest(name: str, candidates: Iterable[str]) -> str:
    """``"; did you mean 'x'?"`` for a close match (or the same key in another table), else ""."""
    candidates = list(candidates)
    leaf = name.rsplit(".", 1)[-1]
    for candidate in candidates:  # the right name in the wrong table
        if candidate != name and candidate.rsplit(".", 1)[-1] == leaf:
            return f"; did you mean '{candidate}'?"
    match = difflib.get_close_matches(name, candidates, n=1)
    if not match:
        leaves = {c.rsplit(".", 1)[-1]: c for c in candidates}
        close = difflib.get_close_matches(leaf, list(leaves), n=1)
        match = [leaves[close[0]]] if close else []
    return f"; did you mean '{match[0]}'?" if match else ""


def key_suggestion(dotted: str, file_keys: Iterable[str], tables: Iterable[str]) -> str:
    """The fix for an unknown file key: a close key *of the same table* or a top-level one
    (``[turn_detection] voise`` -> ``voice``, never the table's own name); a top-level
    unknown key may also be the right name of a table's key (``threshold``)."""
    keys = list(file_keys)
    table, _, leaf = dotted.rpartition(".")
    top = [k for k in keys if "." not in k]
    if not table:
        return suggest(dotted, [*keys, *tables])
    same = [k.rpartition(".")[2] for k in keys if k.rpartition(".")[0] == table]
    match = difflib.get_close_matches(leaf, same, n=1) or difflib.get_close_matches(
        leaf, same, n=1, cutoff=0.5)
    if match:
        return f"; did you mean '{match[0]}'?"
    match = difflib.get_close_matches(leaf, top, n=1)
    if match:
        return (f"; did you mean '{match[0]}'? It is a top-level key: move it above the "
                "first [table]")
    return ""


def key_lines(text: str) -> dict[str, int]:
    """The line (1-based) where each dotted key of a TOML text is first set: enough to point
    at a mistake (``tomllib`` keeps no positions)."""
    lines: dict[str, int] = {}
    table = ""
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if line.startswith("["):
            table = line.strip("[] \t").split("]")[0].strip()
            lines.setdefault(table, number)
            continue
        key, equals, _ = line.partition("=")
        key = key.strip().strip("\"'")
        if equals and key and not line.startswith("#"):
            lines.setdefault(f"{table}.{key}" if table else key, number)
    return lines


class Problems:
    """Every configuration mistake found in one pass, reported together: one line each."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def add(self, error: ConfigError) -> None:
        self.lines.append(str(error))

    def raise_all(self) -> None:
        """One ConfigError with a line per mistake, in the order of the file's lines."""
        if self.lines:
            ordered = sorted(dict.fromkeys(self.lines), key=_line_number)
            raise ConfigError("\n".join(ordered))


def _line_number(problem: str) -> int:
    match = re.match(r"config file .*?:(\d+), key ", problem)
    return int(match.group(1)) if match else 1 << 30


def validate_all(layered: dict[str, Value], problems: Problems) -> dict[str, Any] | None:
    """``validate``, reporting every bad value: each one found is noted and dropped (its
    default takes its place) and the check runs again. None when any was found."""
    for _ in range(len(layered) + 1):
        try:
            resolved = validate(layered)
        except ConfigError as exc:
            problems.add(exc)
            culprits = sorted((str(exc).find(value.where), name)  # the one named first
                              for name, value in layered.items()
                              if value.source != "default" and value.where in str(exc))
            if not culprits or culprits[0][1] in ("region", "url", "api_key_env"):
                return None
            del layered[culprits[0][1]]
            continue
        return None if problems.lines else resolved
    return None


def _default(value: Any) -> Value:
    return Value(value, "default", "built-in default")


def refuse_unavailable(layered: Mapping[str, Value]) -> None:
    """A setting (or a value of one) that has no effect yet is refused, naming what to use."""
    for name, value in layered.items():
        setting = BY_NAME.get(name)
        if setting is None or value.source == "default":
            continue
        if not setting.available:
            raise ConfigError(f"{value.where}: {setting.refusal}")
        if isinstance(value.value, str) and value.value in setting.refused_values:
            raise ConfigError(f"{value.where}: {setting.refused_values[value.value]}")


def checked(setting: Setting, value: Value) -> Any:
    """The value, after the table's choices and range for ``setting``."""
    if setting.choices and value.value not in setting.choices:
        offered = _offered(setting)
        raise ConfigError(f"{value.where}: {setting.name} '{value.value}' is unknown; use "
                          f"{', '.join(offered[:-1])} or {offered[-1]}"
                          f"{suggest(str(value.value), offered)}")
    if setting.limits is not None and value.value is not None:
        return _ranged(value, setting.limits, range_fix(setting, setting.limits))
    return value.value


def _offered(setting: Setting) -> list[str]:
    return [c for c in setting.choices if c not in setting.refused_values]


def range_fix(setting: Setting, allowed: Range) -> str:
    """``a whole number of milliseconds from 200 to 6000``: how a value must be."""
    noun = "a whole number" if setting.kind == "int" else "a number"
    unit = (" of milliseconds" if setting.name.endswith("_ms")
            else " of seconds" if setting.name.endswith("_s") else "")
    return f"{noun}{unit} {allowed.text()}"


@dataclass(frozen=True)
class _Context:
    """What some checks need besides the value: every value, and the model they are for."""

    layered: Mapping[str, Value]
    model: Model
    model_value: Value


def validate(layered: Mapping[str, Value]) -> dict[str, Any]:
    """Check every value against its row of the table and the model's features.

    Returns ``Settings`` keyword arguments. Each row is checked by the check registered for its
    name (``_CHECKS``) or its kind (``_KIND_CHECKS``), or else by its choices and range alone.
    """
    refuse_unavailable(layered)
    model, model_value = _model(layered)
    context = _Context(layered, model, model_value)
    resolved: dict[str, Any] = {}
    for setting in SETTINGS:
        if setting.name in TURN_DETECTION_PARTS:
            continue  # read by _turn_detection into one TurnDetection
        value = layered.get(setting.name) or _default(setting.default_value())
        check = _CHECKS.get(setting.name) or _KIND_CHECKS.get(setting.kind, _plain)
        resolved[setting.name] = check(setting, value, context)
    _workspace_endpoint(resolved, layered)
    return resolved


def _workspace_endpoint(resolved: dict[str, Any], layered: Mapping[str, Value]) -> None:
    """With a workspace id, the region's workspace endpoint replaces its URL (docs/qwen38.md)."""
    template = layered.get("workspace_url")
    if template is None or not template.value or not resolved["workspace"]:
        return
    url = workspace_url(template.value, resolved["workspace"])
    resolved["url"] = _websocket_url(Value(url, template.source, template.where))


def _optional_url(setting: Setting, value: Value, context: _Context) -> str:
    return "" if not value.value else _url(setting, value, context)


def _workspace(setting: Setting, value: Value, context: _Context) -> str | None:
    """A workspace id becomes part of a host name and a header: letters, digits and -."""
    if value.value is None or not str(value.value).strip() and value.source == "default":
        return None
    text = str(value.value).strip()
    if not text or len(text) > 63 or not all(c.isascii() and (c.isalnum() or c == "-")
                                             for c in text):
        raise ConfigError(f"{value.where}: {_show(value.value)} is not a workspace id; copy "
                          f"it from the Model Studio console (letters, digits and -, such "
                          f"as llm-abc123)")
    return text


def _input_channels(setting: Setting, value: Value, context: _Context) -> int:
    """1, or what the model takes from a microphone array (2 or 4 on qwen3.8)."""
    channels = int(checked(setting, value))
    model = context.model
    if channels == 1 or channels in model.input_channels:
        return channels
    *rest, last = map(str, model.input_channels)
    offered = f"{', '.join(rest)} or {last}" if rest else last
    fix = (f"use {offered}" if len(model.input_channels) > 1 else
           "remove it or choose qwen3.8-omni-flash-realtime")
    raise ConfigError(f"{value.where}: {channels} input channels are not supported by "
                      f"{model.name} (from {_origin(context.model_value)}); {fix}")


def _video_compact(setting: Setting, value: Value, context: _Context) -> str | None:
    if value.value is None:
        return None
    compact = checked(setting, value)
    model = context.model
    if not model.supports_video_compact:
        raise ConfigError(f"{value.where}: video_compact needs qwen3.8-omni-flash-realtime, "
                          f"but the model is {model.name} (from "
                          f"{_origin(context.model_value)}); remove video_compact")
    return str(compact)


def _plain(setting: Setting, value: Value, context: _Context) -> Any:
    """The table's choices and range; a whole number given for a float becomes a float."""
    result = checked(setting, value)
    if setting.kind == "float" and result is not None:
        return float(result)
    return result


def _path(setting: Setting, value: Value, context: _Context) -> Path:
    if not str(value.value).strip():
        raise ConfigError(f"{value.where}: {setting.name} is empty; give a directory such "
                          f"as \"~/omnichat-transcripts\", or remove the key for the default")
    return Path(value.value).expanduser()


def _device(setting: Setting, value: Value, context: _Context) -> str | int | None:
    device: str | int | None = value.value
    if device is None:
        return None
    if isinstance(device, int) and device < 0 or isinstance(device, str) and not device.strip():
        raise ConfigError(f"{value.where}: {_show(device)} is not a device; use a name from "
                          f"`omnichat devices` or its index (0 or more)")
    return device


def _model(layered: Mapping[str, Value]) -> tuple[Model, Value]:
    value = layered.get("model") or _default(BY_NAME["model"].default)
    if value.value not in MODELS:
        raise ConfigError(f"{value.where}: unknown model '{value.value}'"
                          f"{suggest(value.value, MODELS)}; "
                          f"known models: {', '.join(MODELS)}")
    return MODELS[value.value], value


def _model_name(setting: Setting, value: Value, context: _Context) -> str:
    return context.model.name  # checked first, by _model: the other checks depend on it


def _url(setting: Setting, value: Value, context: _Context) -> str:
    return _websocket_url(value)


def _websocket_url(value: Value) -> str:
    url: str = value.value
    if not url.startswith(("ws://", "wss://")) or len(url.split("://", 1)[1]) == 0:
        raise ConfigError(f"{value.where}: '{url}' is not a WebSocket URL; use "
                          f"wss://HOST/api-ws/v1/realtime")
    return url


def _env_name(setting: Setting, value: Value, context: _Context) -> str:
    name: str = value.value
    if not name or not all(c.isalnum() or c == "_" for c in name) or name[0].isdigit():
        raise ConfigError(f"{value.where}: '{name}' is not an environment variable name; use "
                          f"letters, digits and _ such as DASHSCOPE_API_KEY")
    return name


def _voice(setting: Setting, value: Value, context: _Context) -> str:
    model = context.model
    if value.source == "default":  # the declared default is the default model's voice
        value = _default(model.default_voice)
    if model.accepts_voice(value.value):
        return str(value.value)
    if not model.voices_verified and isinstance(value.value, str) and value.value.strip():
        return value.value  # the list is inferred: a warning, not a refusal (warning.py)
    close = [v.voice for v in model.voices if v.voice.lower() == str(value.value).lower()]
    hint = f"did you mean '{close[0]}'? " if close else ""
    raise ConfigError(f"{value.where}: model {model.name} (from "
                      f"{_origin(context.model_value)}) has no voice '{value.value}'; {hint}run "
                      f"`omnichat voices --model {model.name}` to list its voices")


def _origin(value: Value) -> str:
    return "the built-in default" if value.source == "default" else value.where


def _instructions(setting: Setting, value: Value, context: _Context) -> str | None:
    return value.value or None  # an empty prompt is no prompt


def _modalities(setting: Setting, value: Value, context: _Context) -> tuple[str, ...]:
    given = list(value.value)
    if sorted(given) == ["text"]:
        return ("text",)
    if sorted(given) == ["audio", "text"]:
        return ("text", "audio")
    raise ConfigError(f"{value.where}: modalities {given!r} are not supported; use "
                      f"[\"text\"] or [\"text\", \"audio\"]")


# Settings that only some models honour: the model's flag for it, and what to choose instead.
_FEATURES: Mapping[str, tuple[Callable[[Model], bool], str]] = {
    "enable_search": (lambda model: model.supports_search, "a qwen3.5-omni model"),
    "smooth_output": (lambda model: model.supports_smooth_output, "a qwen3-omni-flash model"),
}


def _feature(setting: Setting, value: Value, context: _Context) -> Any:
    if value.value is None or value.value == setting.default:  # unset, or off (search)
        return value.value
    supported, needs = _FEATURES[setting.name]
    model = context.model
    if not supported(model):
        raise ConfigError(f"{value.where}: {setting.name} needs {needs}, but the model is "
                          f"{model.name} (from {_origin(context.model_value)}); remove "
                          f"{setting.name} or choose such a model")
    return value.value


def _turn_detection(setting: Setting, kind: Value, context: _Context) -> TurnDetection | None:
    checked(setting, kind)
    model = context.model
    if kind.value == "manual":
        return None
    if kind.value == "semantic_vad" and not model.supports_semantic_vad:
        raise ConfigError(f"{kind.where}: semantic_vad needs a qwen3.5-omni model, but the model "
                          f"is {model.name} (from {_origin(context.model_value)}); use server_vad")
    parts = {name: _plain(BY_NAME[name], context.layered.get(name)
                          or _default(BY_NAME[name].default), context)
             for name in TURN_DETECTION_PARTS}
    return TurnDetection(kind.value, **parts)


def _ranged(value: Value, allowed: Range, fix: str) -> Any:
    if value.value not in allowed:
        raise ConfigError(f"{value.where}: {_show(value.value)} is out of range; use {fix}")
    return value.value


def _max_tokens(setting: Setting, value: Value, context: _Context) -> int | None:
    """At most the model's output limit, where the model has one."""
    model = context.model
    result: int | None
    if value.value is None or not model.max_output_tokens:
        result = _plain(setting, value, context)
    else:
        low = (setting.limits or Range(-math.inf, math.inf)).low
        allowed = Range(low, model.max_output_tokens)
        result = _ranged(value, allowed, f"{range_fix(setting, allowed)} for {model.name}")
    return result


def _repetition_penalty(setting: Setting, value: Value, context: _Context) -> float | None:
    """qwen3.8 takes 0 too (docs/qwen38.md); the other models the table's range."""
    if value.value is None or context.model.family != "qwen3.8-omni":
        result = _plain(setting, value, context)
        return None if result is None else float(result)
    allowed = limits.REPETITION_PENALTY_QWEN38
    return float(_ranged(value, allowed, f"{range_fix(setting, allowed)} for "
                                          f"{context.model.name}"))


_Check = Callable[[Setting, Value, _Context], Any]
# The rows whose check is more than their kind, choices and range.
_CHECKS: Mapping[str, _Check] = {
    "model": _model_name, "url": _url, "api_key_env": _env_name, "voice": _voice,
    "instructions": _instructions, "modalities": _modalities,
    "turn_detection": _turn_detection, "enable_search": _feature, "smooth_output": _feature,
    "max_tokens": _max_tokens, "repetition_penalty": _repetition_penalty,
    "workspace": _workspace, "workspace_url": _optional_url,
    "input_channels": _input_channels, "video_compact": _video_compact,
}
_KIND_CHECKS: Mapping[str, _Check] = {"device": _device, "path": _path}
