"""The setting flags of ``talk`` and ``ptt``, made from the settings table (``config.table``).

``setting_flags`` adds one Typer option per available setting that has a ``flag``;
``settings_from_flags`` turns what was given into ``load_settings`` flags (``None`` = not
given). A switch (``flag_value`` set) is a plain flag, shown without a value.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import typer

from omnichat.config.table import SETTINGS, Setting

F = TypeVar("F", bound=Callable[..., Any])

_TYPES: Mapping[str, Any] = {"str": str, "int": int, "float": float, "device": str,
                             "path": str, "str_list": str, "bool": bool}


def flagged() -> list[Setting]:
    """The settings that have a command-line flag and an effect."""
    return [s for s in SETTINGS if s.flag and s.available]


def _parameter(setting: Setting) -> inspect.Parameter:
    names = [n for n in (setting.flag, setting.short) if n]
    help_text = setting.flag_help or setting.help
    default = setting.default_text or (setting.default if setting.flag_value is None else None)
    if default is not None:
        help_text += f" [default: {default}]"
    if setting.env:
        help_text += f" [env: {setting.env}]"
    if setting.flag_value is not None:
        option = typer.Option(False, *names, help=help_text)
        annotation: Any = bool
    else:
        option = typer.Option(None, *names, help=help_text, show_default=False)
        annotation = _TYPES[setting.kind] | None
    return inspect.Parameter(setting.name, inspect.Parameter.KEYWORD_ONLY, default=option,
                             annotation=annotation)


def setting_flags(func: F) -> F:
    """Give a command ``**settings`` one option per flagged setting of the table."""
    signature = inspect.signature(func, eval_str=True)
    own = [p for p in signature.parameters.values() if p.kind is not p.VAR_KEYWORD]
    added = [_parameter(setting) for setting in flagged()]
    func.__signature__ = signature.replace(parameters=own + added)  # type: ignore[attr-defined]
    func.__annotations__ = {**{p.name: p.annotation for p in own},
                            **{p.name: p.annotation for p in added}}
    return func


def settings_from_flags(given: Mapping[str, Any]) -> dict[str, Any]:
    """``load_settings`` flags from the options: a switch left off means "not given"."""
    flags: dict[str, Any] = {}
    for setting in flagged():
        value = given.get(setting.name)
        if setting.flag_value is not None:
            value = setting.flag_value if value else None
        flags[setting.name] = list(value) if isinstance(value, tuple) else value
    return flags
