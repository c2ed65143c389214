"""Dataclass fields declared by the settings table, and ``TurnDetection``.

A field written ``name: type = declared()`` gets its default (or default factory) from the
row of ``omnichat.config.table.SETTINGS`` with the same name, and carries that row in its
metadata (``field.metadata["setting"]``). The class is then decorated ``@from_table`` under
``@dataclass``. So a default is written once, in the table; the Python type stays on the class,
where mypy can check every use of it. A ``declared()`` field whose name has no row fails at
import, naming it.

``TurnDetection`` lives here, beside the helper, so that ``schema`` (which builds it) and
``settings`` (which holds it) both import it without importing each other.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, TypeVar

from omnichat.config.table import BY_NAME

T = TypeVar("T")


@dataclass(frozen=True)
class _Declared:
    row: str | None  # the row's name when it differs from the field's
    repr: bool


def declared(row: str | None = None, *, repr: bool = True) -> Any:
    """Mark a field whose default comes from the table row ``row`` (default: the field's name).

    Typed ``Any`` so that ``voice: str = declared()`` type-checks; ``from_table`` replaces the
    marker with a real ``dataclasses.field`` before ``@dataclass`` reads the class.
    """
    return _Declared(row, repr)


def from_table(cls: type[T]) -> type[T]:
    """Turn every ``declared()`` marker of ``cls`` into a field with its row's default."""
    for name, value in list(vars(cls).items()):
        if not isinstance(value, _Declared):
            continue
        row = value.row or name
        if row not in BY_NAME:
            raise TypeError(f"{cls.__name__}.{name} is declared() but the settings table has no "
                            f"row {row!r}; add a Setting({row!r}, ...) row to config/table.py")
        setattr(cls, name, _field(row, repr=value.repr))
    return cls


def _field(row: str, *, repr: bool) -> Any:
    setting = BY_NAME[row]
    metadata = {"setting": setting}
    if setting.default_factory is not None:
        return dataclasses.field(default_factory=setting.default_factory, repr=repr,
                                 metadata=metadata)
    return dataclasses.field(default=setting.default, repr=repr, metadata=metadata)


def setting_fields(cls: type) -> dict[str, str]:
    """Field name -> the name of the row it is declared by, for every ``declared()`` field."""
    return {f.name: f.metadata["setting"].name for f in dataclasses.fields(cls)
            if "setting" in f.metadata}


@dataclass(frozen=True)
@from_table
class TurnDetection:
    """How the service ends a turn (``session.turn_detection``); None on Settings: manual."""

    type: str = declared("turn_detection")  # "server_vad" | "semantic_vad"
    threshold: float = declared()
    silence_duration_ms: int = declared()
    prefix_padding_ms: int = declared()
