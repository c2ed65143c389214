"""Event values and the two pure functions every frame goes through: ``decode`` and ``encode``.

An ``Event`` keeps the whole JSON object it came from (``data``), so decoding then encoding
loses nothing, not even fields this module does not know. Known event types decode to a
subclass with typed accessors; unknown types stay generic ``Event`` values and never raise.

``decode`` checks the type of every field a known event's accessors read, so the accessors
can trust them: a frame that is not a JSON object with a string ``type``, or whose required
field is missing, or whose field has the wrong JSON type (a list where an id belongs, a
string where milliseconds belong), raises ``ProtocolError``. Purely informational values
(token usage) are not checked here; their accessors drop what is malformed instead.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, TypeVar

from omnichat.errors import ProtocolError

_REGISTRY: dict[str, type[Event]] = {}
#: A JSON type as a Python type, or a tuple of them (``int`` never accepts ``bool``).
FieldType = type | tuple[type, ...]
_E = TypeVar("_E", bound="Event")


@dataclass(frozen=True, eq=True)
class Event:
    """One protocol event: its ``type`` and the complete JSON object (``data``)."""

    type: str
    data: Mapping[str, Any] = field(repr=False, compare=True)

    #: True for event types this module knows (client or server).
    known: ClassVar[bool] = False
    #: Field name -> required JSON type, checked by ``decode``.
    required: ClassVar[Mapping[str, FieldType]] = {}
    #: Field name -> JSON type when present and not null, checked by ``decode``.
    optional: ClassVar[Mapping[str, FieldType]] = {}

    @property
    def event_id(self) -> str | None:
        value = self.data.get("event_id")
        return value if isinstance(value, str) else None

    @classmethod
    def check(cls, data: Mapping[str, Any]) -> None:
        """Checks beyond top-level field types that ``decode`` runs (raise ProtocolError)."""

    def get(self, key: str, default: Any = None) -> Any:
        return self.data.get(key, default)

    def to_dict(self) -> dict[str, Any]:
        return dict(self.data)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.type!r})"


def event_type(name: str, *, optional: Mapping[str, FieldType] | None = None,
               **required: FieldType) -> Callable[[type[_E]], type[_E]]:
    """Class decorator: register ``cls`` as the decoder of event type ``name``.

    ``required`` fields must be present with that JSON type; ``optional`` ones (added to those
    a base class declares) may be absent or null but, when present, must have that type.
    """

    def register(cls: type[_E]) -> type[_E]:
        cls.known = True
        cls.required = required
        cls.optional = {**cls.optional, **(optional or {})}
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
        if not is_json_type(data.get(name), expected):
            raise ProtocolError(f"'{type_name}' event has no valid '{name}' field")
    for name, expected in cls.optional.items():
        value = data.get(name)
        if value is not None and not is_json_type(value, expected):
            raise ProtocolError(f"'{type_name}' event has a malformed '{name}' field "
                                f"(a JSON {json_type_name(value)})")
    cls.check(data)
    return cls(type_name, dict(data))


def is_json_type(value: Any, expected: FieldType) -> bool:
    """``isinstance`` for decoded JSON, except that ``true``/``false`` are not integers and
    NaN or infinite numbers are no numbers at all."""
    if isinstance(value, bool):
        kinds = expected if isinstance(expected, tuple) else (expected,)
        return bool in kinds
    if isinstance(value, float) and not math.isfinite(value):
        return False
    return isinstance(value, expected)


def json_type_name(value: Any) -> str:
    names = {dict: "object", list: "array", str: "string", bool: "boolean", int: "number",
             float: "number", type(None): "null"}
    return names.get(type(value), type(value).__name__)


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
