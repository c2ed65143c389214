"""`omnichat config init|show|path`: write the starter file, describe the settings in effect.

The API key is shown only as present or absent, with at most its last four characters.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any

from omnichat.catalog import get_model
from omnichat.config.settings import Settings
from omnichat.config.table import SAMPLING_NAMES, SETTINGS, TURN_DETECTION_PARTS, Setting
from omnichat.errors import ConfigError
from omnichat.sanitize import clean_text


def starter_text() -> str:
    """The commented starter file, ``omnichat/data/config.example.toml`` (its only copy)."""
    return resources.files("omnichat").joinpath("data/config.example.toml").read_text("utf-8")


def init_config(path: Path, *, force: bool = False) -> Path:
    """Write the starter file at ``path`` (mode 0600) atomically; refuse to overwrite
    an existing file unless ``force``."""
    if path.exists() and not force:
        raise ConfigError(f"config file {path} already exists; edit it, or run "
                          f"`omnichat config init --force` to replace it")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        _write_atomically(path, starter_text())
    except OSError as exc:
        raise ConfigError(f"cannot write config file {path}: {exc.strerror}; check the "
                          f"directory's permissions or set OMNICHAT_CONFIG") from exc
    return path


def _write_atomically(path: Path, text: str) -> None:
    # mkstemp creates the file 0600, so the key-adjacent config is never world-readable,
    # and the rename means a reader sees the old file or the whole new one.
    fd, temp_name = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp_name, path)
    except BaseException:
        Path(temp_name).unlink(missing_ok=True)
        raise


def describe_key(settings: Settings) -> str:
    """``set (…ab12) from DASHSCOPE_API_KEY`` or how to set it; never the key itself."""
    key = settings.api_key
    if not key:
        return f"not set; export {settings.api_key_env}=<your {settings.region} API key>"
    tail = f"…{key[-4:]}" if len(key) >= 12 else "…"
    origin = "flag --api-key" if settings.sources.get("api_key") == "flag" else settings.api_key_env
    return f"set ({tail}) from {origin}"


def show_lines(settings: Settings, looked_at: Path | None = None) -> list[str]:
    """One line per setting of the table that is available: name, value, and where the value
    came from. ``looked_at`` is the config path that was tried, reported when no file was
    found there."""
    if settings.config_file:
        file_text = str(settings.config_file)
    else:
        file_text = f"{looked_at or 'none'} (not found; `omnichat config init` creates it)"
    rows = [("config file", file_text, "")]
    rows += [_row(settings, setting) for setting in SETTINGS if setting.available]
    rows += [("tools", "[tools] table set" if settings.tools else "not set",
              settings.sources.get("tools", "default")),
             ("mcp_servers", ", ".join(map(str, settings.mcp_servers)) or "none",
              settings.sources.get("mcp_servers", "default")),
             ("mcp_remote", ", ".join(map(str, settings.mcp_remote)) or "none",
              settings.sources.get("mcp_remote", "default"))]
    width = max(len(name) for name, _, _ in rows)
    return [f"{name:<{width}}  {value}" + (f"  ({source})" if source else "")
            for name, value, source in rows]


def _row(settings: Settings, setting: Setting) -> tuple[str, str, str]:
    name = setting.name
    source = settings.sources.get(name, "default")
    td = settings.turn_detection
    if name == "api_key":
        return name, describe_key(settings), ""
    if name == "turn_detection":
        return name, td.type if td is not None else "manual", source
    if name in TURN_DETECTION_PARTS:
        return name, _format(getattr(td, name)) if td is not None else "not used", source
    value = getattr(settings, name)
    if name in SAMPLING_NAMES and value is None:
        return name, _model_default(get_model(settings.model).defaults, name), source
    return name, _format(value), source


def settings_markdown() -> str:
    """The reference table of docs/configuration.md, made from the settings table."""
    lines = ["| setting | file key | flag | environment variable | default | range | sent |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    for setting in SETTINGS:
        if not setting.available:
            continue
        flag = " ".join(f"`{f}`" for f in (setting.short, setting.flag) if f) or "—"
        cells = [f"`{setting.name}`", f"`{setting.key}`" if setting.key else "—", flag,
                 f"`{setting.env}`" if setting.env else "—", _doc_default(setting),
                 _doc_range(setting), "yes" if setting.sent else "no"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def settings_glossary() -> str:
    """One line per available setting: what it does."""
    return "".join(f"- `{s.name}`: {s.help}\n" for s in SETTINGS if s.available)


def _doc_default(setting: Setting) -> str:
    if setting.default_text:
        return setting.default_text
    if setting.default is None:
        return "not set"
    return f"`{_format(setting.default)}`"


def _doc_range(setting: Setting) -> str:
    if setting.limits is not None:
        return setting.limits.text()
    offered = [c for c in setting.choices if c not in setting.refused_values]
    if setting.kind == "bool":
        offered = ["true", "false"]
    return ", ".join(f"`{c}`" for c in offered)


def _model_default(defaults: Mapping[str, Any], name: str) -> str:
    if name in defaults:
        return f"not sent (model default {defaults[name]})"
    return "not sent (model default)"


def _format(value: Any) -> str:
    if value is None:
        return "not set"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, tuple):
        return ", ".join(value)
    return clean_text(str(value), keep_newlines=False)  # file text may hold control chars
