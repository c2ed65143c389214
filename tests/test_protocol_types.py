"""Wrongly typed fields in otherwise valid JSON: every field a server event's accessors read is
checked by ``decode``, so a list where an id belongs is a ProtocolError (exit 7, one line),
never a traceback in the engine; informational token usage drops what is malformed instead.

The property-style tests go over every server event type and every field it declares, with
values of each wrong JSON type."""

from __future__ import annotations

import json
import math

import pytest

from omnichat import protocol as p
from omnichat.errors import ExitCode, ProtocolError
from omnichat.protocol.events import _REGISTRY, is_json_type

# One wrong-typed value of each JSON kind; a field rejects those not of its type.
WRONG_VALUES = [[], {}, "12", 12, 1.5, True, float("nan")]


def _frame(type_name: str, **fields) -> str:
    return json.dumps({"event_id": "event_1", "type": type_name, **fields})


def _valid_fields(cls) -> dict:
    samples = {str: "abc", int: 7, dict: {}, list: []}
    fields = {}
    for name, kind in {**cls.optional, **cls.required}.items():
        first = kind[0] if isinstance(kind, tuple) else kind
        fields[name] = samples[first]
    if cls.TYPE in (p.RESPONSE_CREATED, p.RESPONSE_DONE):
        fields["response"] = {"id": "resp_1", "status": "completed"}
    return fields


def _field_cases():
    for type_name in sorted(p.SERVER_EVENT_TYPES):
        cls = _REGISTRY[type_name]
        for name in {**cls.optional, **cls.required}:
            yield pytest.param(type_name, name, id=f"{type_name}.{name}")


@pytest.mark.parametrize("type_name", sorted(p.SERVER_EVENT_TYPES))
def test_every_server_event_decodes_with_well_typed_fields(type_name):
    event = p.decode(_frame(type_name, **_valid_fields(_REGISTRY[type_name])))
    assert event.type == type_name and event.known


@pytest.mark.parametrize(("type_name", "name"), list(_field_cases()))
def test_a_wrong_typed_field_is_a_protocol_error(type_name, name):
    cls = _REGISTRY[type_name]
    kind = {**cls.optional, **cls.required}[name]
    wrong = [value for value in WRONG_VALUES if not is_json_type(value, kind)]
    assert len(wrong) >= 4
    for value in wrong:
        fields = _valid_fields(cls) | {name: value}
        with pytest.raises(ProtocolError, match=name) as info:
            p.decode(_frame(type_name, **fields))
        assert "\n" not in str(info.value) and info.value.exit_code == ExitCode.PROTOCOL


def test_every_server_event_checks_the_ids_its_accessors_read():
    for type_name in p.SERVER_EVENT_TYPES:
        cls = _REGISTRY[type_name]
        for accessor in ("response_id", "item_id"):
            if hasattr(cls, accessor) and cls.TYPE not in (p.RESPONSE_CREATED, p.RESPONSE_DONE):
                assert accessor in {**cls.optional, **cls.required}, (type_name, accessor)


@pytest.mark.parametrize(("type_name", "fields"), [
    (p.AUDIO_DELTA, {"response_id": ["r"], "item_id": "i", "delta": ""}),
    (p.AUDIO_TRANSCRIPT_DELTA, {"response_id": "r", "item_id": ["i"], "delta": "hi"}),
    (p.SPEECH_STOPPED, {"audio_end_ms": "1200", "item_id": "i"}),
    (p.SPEECH_STARTED, {"audio_start_ms": float("nan"), "item_id": "i"}),
    (p.RESPONSE_CREATED, {"response": {"id": ["resp"]}}),
    (p.RESPONSE_DONE, {"response": {"id": "resp", "status": 3}}),
    (p.TEXT_DELTA, {"delta": ["not", "text"]}),
])
def test_the_reported_crashes_are_protocol_errors(type_name, fields):
    with pytest.raises(ProtocolError):
        p.decode(_frame(type_name, **fields))


def test_malformed_token_usage_is_dropped_not_fatal():
    usage = {"input_tokens": "12", "output_tokens": float("nan"), "total_tokens": 30,
             "input_tokens_details": {"text_tokens": 4, "audio_tokens": [1]},
             "output_tokens_details": "many", "negative": -3, "flag": True}
    frame = _frame(p.RESPONSE_DONE, response={"id": "resp_1", "status": "completed",
                                             "usage": usage})
    assert "NaN" in frame  # json.dumps writes NaN; json.loads accepts it back
    event = p.decode(frame)
    assert event.usage == {"total_tokens": 30, "input_tokens_details": {"text_tokens": 4}}
    assert p.decode(_frame(p.RESPONSE_DONE, response={"usage": [1, 2]})).usage == {}


def test_informational_error_fields_of_the_wrong_type_read_as_empty():
    event = p.decode(_frame(p.ERROR, error={"message": ["x"], "code": 429, "type": None}))
    assert (event.message, event.code, event.error_type, event.param) == ("", "429", "", "")


def test_null_optional_fields_are_absent_not_errors():
    event = p.decode(_frame(p.AUDIO_DELTA, response_id=None, item_id=None, delta=""))
    assert event.response_id is None and event.item_id is None and event.pcm == b""


def test_unknown_event_types_are_never_checked():
    event = p.decode(_frame("response.future_thing", response_id=["anything"]))
    assert not event.known and event.get("response_id") == ["anything"]


def test_is_json_type_rejects_booleans_as_numbers_and_non_finite_floats():
    assert is_json_type(3, int) and not is_json_type(True, int)
    assert is_json_type(True, bool) and not is_json_type(math.inf, (int, float))
