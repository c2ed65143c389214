"""`omnichat config init|show|path`: write the starter file, describe the settings in effect.

The API key is shown only as present or absent, with at most its last four characters.
"""

from __future__ import annotations

import os
import tempfile
from importlib import resources
from pathlib import Path

from omnichat.catalog import get_model
from omnichat.config import Settings
from omnichat.config_schema import SAMPLING_NAMES
from omnichat.errors import ConfigError
from omnichat.sanitize import clean_text


def starter_text() -> str:
    """The commented starter file (the same text as ``config.example.toml``)."""
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
    """One line per setting: name, value, and where the value came from. ``looked_at`` is
    the config path that was tried, reported when no file was found there."""
    model = get_model(settings.model)
    if settings.config_file:
        file_text = str(settings.config_file)
    else:
        file_text = f"{looked_at or 'none'} (not found; `omnichat config init` creates it)"
    rows = [("config file", file_text, "")]
    rows += [(name, _format(getattr(settings, name)), settings.sources.get(name, "default"))
             for name in ("region", "url", "api_key_env")]
    rows.append(("api_key", describe_key(settings), ""))
    rows += [(name, _format(getattr(settings, name)), settings.sources.get(name, "default"))
             for name in ("model", "voice", "instructions", "modalities")]
    rows += _turn_detection_rows(settings)
    for name in SAMPLING_NAMES:
        value = getattr(settings, name)
        shown = _format(value) if value is not None else _model_default(model.defaults, name)
        rows.append((name, shown, settings.sources.get(name, "default")))
    rows += [(name, _format(getattr(settings, name)), settings.sources.get(name, "default"))
             for name in ("smooth_output", "enable_search", "input_device", "output_device",
                          "echo_mode", "transcript_dir")]
    width = max(len(name) for name, _, _ in rows)
    return [f"{name:<{width}}  {value}" + (f"  ({source})" if source else "")
            for name, value, source in rows]


def _turn_detection_rows(settings: Settings) -> list[tuple[str, str, str]]:
    td = settings.turn_detection
    source = settings.sources.get("turn_detection", "default")
    if td is None:
        return [("turn_detection", "manual (push-to-talk)", source)]
    return [("turn_detection", td.type, source)] + [
        (name, _format(getattr(td, name)), settings.sources.get(name, "default"))
        for name in ("threshold", "silence_duration_ms", "prefix_padding_ms")]


def _model_default(defaults, name: str) -> str:
    if name in defaults:
        return f"not sent (model default {defaults[name]})"
    return "not sent (model default)"


def _format(value) -> str:
    if value is None:
        return "not set"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, tuple):
        return ", ".join(value)
    return clean_text(str(value), keep_newlines=False)  # file text may hold control chars
