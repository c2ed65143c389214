"""Event values and the two pure functions every frame goes through: ``decode`` and ``encode``.

An ``Event`` keeps the whole JSON object it came from (``data``), so decoding then encoding
loses nothing, not even fields this module does not know. Known event types decode to a
subclass with typed accessors; unknown types stay generic ``Event`` values and never raise.
Only a frame that is not a JSON object with a string ``type`` raises ``ProtocolError``.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from omnichat.errors import ProtocolError

_REGISTRY: dict[str, type[Event]] = {}


@dataclass(frozen=True, eq=True)
class Event:
    """One protocol event: its ``type`` and the complete JSON object (``data``)."""

    type: str
    data: Mapping[str, Any] = field(repr=False, compare=True)

    #: True for event types this module knows (client or server).
    known: ClassVar[bool] = False
    #: Field name -> required JSON type, checked by ``decode``.
    required: ClassVar[Mapping[str, type | tuple[type, ...]]] = {}

    @property
    def event_id(self) -> str | None:
        value = self.data.get("event_id")
        return value if isinstance(value, str) else None

    def get(self, key: str, default: Any = None) -> Any:
        return self.data.get(key, default)

    def to_dict(self) -> dict[str, Any]:
        return dict(self.data)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.type!r})"


def event_type(name: str, **required: type | tuple[type, ...]):
    """Class decorator: register ``cls`` as the decoder of event type ``name``."""

    def register(cls: type[Event]) -> type[Event]:
        cls.known = True
        cls.required = required
        cls.TYPE = name  # type: ignore[attr-defined]
        _REGISTRY[name] = cls
        return cls

    return register


def registered_types() -> frozenset[str]:
    return frozenset(_REGISTRY)


def make(type_name: str, **fields: Any) -> Event:
    """Build an event of ``type_name`` from keyword fields (``None`` values are kept)."""
    data: dict[str, Any] = {}
    if "event_id" in fields:
        data["event_id"] = fields.pop("event_id")
    data["type"] = type_name
    fields.pop("type", None)
    data.update(fields)
    return _REGISTRY.get(type_name, Event)(type_name, data)


def from_dict(data: Mapping[str, Any]) -> Event:
    """Wrap an already-parsed JSON object; raises ``ProtocolError`` if it is not an event."""
    if not isinstance(data, Mapping):
        raise ProtocolError(f"protocol frame is a JSON {type(data).__name__}, not an object")
    type_name = data.get("type")
    if not isinstance(type_name, str) or not type_name:
        raise ProtocolError("protocol frame has no 'type' field")
    cls = _REGISTRY.get(type_name, Event)
    for name, expected in cls.required.items():
        if not isinstance(data.get(name), expected):
            raise ProtocolError(f"'{type_name}' event has no valid '{name}' field")
    return cls(type_name, dict(data))


def decode(frame: str | bytes) -> Event:
    """Parse one WebSocket text frame into an ``Event``."""
    if isinstance(frame, (bytes, bytearray)):
        try:
            frame = bytes(frame).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ProtocolError("protocol frame is not UTF-8 text") from exc
    try:
        data = json.loads(frame)
    except (json.JSONDecodeError, RecursionError) as exc:
        raise ProtocolError(f"protocol frame is not JSON: {exc}") from None
    return from_dict(data)


def encode(event: Event | Mapping[str, Any]) -> str:
    """Serialise an event as compact JSON, the way the service writes it."""
    data = event.data if isinstance(event, Event) else event
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"))


def b64encode(payload: bytes) -> str:
    return base64.b64encode(payload).decode("ascii")


def b64decode(text: str, what: str) -> bytes:
    """Decode strict base64; a bad payload is a ``ProtocolError`` naming ``what``."""
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError, TypeError) as exc:
        raise ProtocolError(f"{what} is not valid base64") from exc
