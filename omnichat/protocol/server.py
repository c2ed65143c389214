"""Server events (docs/protocol.md §4): typed values and builders, no I/O.

The client reads these through the typed accessors; the emulator builds them with the
builders (``server_build``, re-exported here), which add a server-style ``event_id`` first.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from omnichat.errors import ProtocolError
from omnichat.protocol.events import (
    Event,
    FieldType,
    b64decode,
    event_type,
    is_json_type,
    json_type_name,
)

ERROR = "error"
SESSION_CREATED = "session.created"
SESSION_UPDATED = "session.updated"
SESSION_FINISHED = "session.finished"
SPEECH_STARTED = "input_audio_buffer.speech_started"
SPEECH_STOPPED = "input_audio_buffer.speech_stopped"
AUDIO_COMMITTED = "input_audio_buffer.committed"
AUDIO_CLEARED = "input_audio_buffer.cleared"
ITEM_CREATED = "conversation.item.created"
TRANSCRIPTION_DELTA = "conversation.item.input_audio_transcription.delta"
TRANSCRIPTION_COMPLETED = "conversation.item.input_audio_transcription.completed"
TRANSCRIPTION_FAILED = "conversation.item.input_audio_transcription.failed"
RESPONSE_CREATED = "response.created"
RESPONSE_DONE = "response.done"
OUTPUT_ITEM_ADDED = "response.output_item.added"
OUTPUT_ITEM_DONE = "response.output_item.done"
CONTENT_PART_ADDED = "response.content_part.added"
CONTENT_PART_DONE = "response.content_part.done"
TEXT_DELTA = "response.text.delta"
TEXT_DONE = "response.text.done"
AUDIO_DELTA = "response.audio.delta"
AUDIO_DONE = "response.audio.done"
AUDIO_TRANSCRIPT_DELTA = "response.audio_transcript.delta"
AUDIO_TRANSCRIPT_DONE = "response.audio_transcript.done"
FUNCTION_ARGS_DELTA = "response.function_call_arguments.delta"
FUNCTION_ARGS_DONE = "response.function_call_arguments.done"


_IDS: dict[str, FieldType] = {"response_id": str, "item_id": str, "previous_item_id": str,
                              "output_index": int, "content_index": int}


def _opt_str(event: Event, name: str) -> str | None:
    """A field ``decode`` already checked to be a string or absent."""
    value = event.data.get(name)
    return value if isinstance(value, str) else None


def _text(mapping: Mapping[str, Any], name: str) -> str:
    """Informational text: a string as is, a number as text, anything else as ''."""
    value = mapping.get(name)
    if isinstance(value, str):
        return value
    return str(value) if is_json_type(value, (int, float)) else ""


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def clean_usage(value: Any) -> dict[str, Any]:
    """Token counts only: integers, and objects of integers one level down (the details).

    Usage is informational, so a malformed count is dropped rather than failing the frame.
    """
    usage: dict[str, Any] = {}
    for key, count in _dict(value).items():
        if is_json_type(count, int) and count >= 0:
            usage[key] = count
        elif isinstance(count, dict):
            details = {k: v for k, v in count.items() if is_json_type(v, int) and v >= 0}
            if details:
                usage[key] = details
    return usage


class _ResponsePart(Event):
    """Accessors shared by the events that belong to one response's output."""

    @property
    def response_id(self) -> str | None:
        return _opt_str(self, "response_id")

    @property
    def item_id(self) -> str | None:
        return _opt_str(self, "item_id")


@event_type(ERROR, error=dict)
class ErrorEvent(Event):
    """The error object's fields are informational: a wrongly typed one reads as ''."""

    @property
    def error(self) -> dict[str, Any]:
        return _dict(self.data["error"])

    @property
    def message(self) -> str:
        return _text(self.error, "message")

    @property
    def code(self) -> str:
        return _text(self.error, "code")

    @property
    def error_type(self) -> str:
        return _text(self.error, "type")

    @property
    def param(self) -> str:
        return _text(self.error, "param")


@event_type(SESSION_CREATED, session=dict)
class SessionCreated(Event):
    @property
    def session(self) -> dict[str, Any]:
        return _dict(self.data["session"])


@event_type(SESSION_UPDATED, session=dict)
class SessionUpdated(SessionCreated):
    pass


@event_type(SESSION_FINISHED)
class SessionFinished(Event):
    pass


@event_type(SPEECH_STARTED, optional={"audio_start_ms": int, **_IDS})
class SpeechStarted(Event):
    @property
    def audio_start_ms(self) -> int | None:
        value = self.data.get("audio_start_ms")
        return value if isinstance(value, int) else None

    @property
    def item_id(self) -> str | None:
        return _opt_str(self, "item_id")


@event_type(SPEECH_STOPPED, optional={"audio_end_ms": int, **_IDS})
class SpeechStopped(Event):
    @property
    def audio_end_ms(self) -> int | None:
        value = self.data.get("audio_end_ms")
        return value if isinstance(value, int) else None

    @property
    def item_id(self) -> str | None:
        return _opt_str(self, "item_id")


@event_type(AUDIO_COMMITTED)
class AudioCommitted(SpeechStopped):
    pass


@event_type(AUDIO_CLEARED)
class AudioCleared(Event):
    pass


@event_type(ITEM_CREATED, item=dict, optional=_IDS)
class ItemCreated(Event):
    @property
    def item(self) -> dict[str, Any]:
        return _dict(self.data["item"])


@event_type(TRANSCRIPTION_DELTA, optional={"text": str, "stash": str, **_IDS})
class TranscriptionDelta(_ResponsePart):
    @property
    def preview(self) -> str:
        """Confirmed text plus the revisable tail; each delta is a full refresh."""
        return (_opt_str(self, "text") or "") + (_opt_str(self, "stash") or "")


@event_type(TRANSCRIPTION_COMPLETED, transcript=str, optional=_IDS)
class TranscriptionCompleted(_ResponsePart):
    @property
    def transcript(self) -> str:
        return _opt_str(self, "transcript") or ""


@event_type(TRANSCRIPTION_FAILED, optional=_IDS)
class TranscriptionFailed(_ResponsePart):
    @property
    def error(self) -> dict[str, Any]:
        return _dict(self.data.get("error"))


@event_type(RESPONSE_CREATED, response=dict)
class ResponseCreated(Event):
    """``decode`` checks the response's ``id`` and ``status`` (``check``)."""

    @classmethod
    def check(cls, data: Mapping[str, Any]) -> None:
        response = data["response"]
        for name in ("id", "status"):
            value = response.get(name)
            if value is not None and not isinstance(value, str):
                raise ProtocolError(f"'{data['type']}' event has a malformed 'response.{name}'"
                                    f" field (a JSON {json_type_name(value)})")

    @property
    def response(self) -> dict[str, Any]:
        return _dict(self.data["response"])

    @property
    def response_id(self) -> str | None:
        value = self.response.get("id")
        return value if isinstance(value, str) else None


@event_type(RESPONSE_DONE, response=dict)
class ResponseDone(ResponseCreated):
    @property
    def status(self) -> str:
        value = self.response.get("status")
        return value if isinstance(value, str) else ""

    @property
    def usage(self) -> dict[str, Any]:
        """Token counts; malformed ones (strings, NaN, negatives) are dropped."""
        return clean_usage(self.response.get("usage"))


@event_type(OUTPUT_ITEM_ADDED, item=dict, optional=_IDS)
class OutputItemAdded(_ResponsePart):
    @property
    def item(self) -> dict[str, Any]:
        return _dict(self.data["item"])


@event_type(OUTPUT_ITEM_DONE, item=dict, optional=_IDS)
class OutputItemDone(OutputItemAdded):
    pass


@event_type(CONTENT_PART_ADDED, optional=_IDS)
class ContentPartAdded(_ResponsePart):
    pass


@event_type(CONTENT_PART_DONE, optional=_IDS)
class ContentPartDone(_ResponsePart):
    pass


@event_type(TEXT_DELTA, delta=str, optional=_IDS)
class TextDelta(_ResponsePart):
    @property
    def delta(self) -> str:
        return _opt_str(self, "delta") or ""


@event_type(TEXT_DONE, optional={"text": str, **_IDS})
class TextDone(_ResponsePart):
    @property
    def text(self) -> str:
        return _opt_str(self, "text") or ""


@event_type(AUDIO_DELTA, delta=str, optional=_IDS)
class AudioDelta(_ResponsePart):
    @property
    def pcm(self) -> bytes:
        """24 kHz 16-bit mono PCM; ``ProtocolError`` if the payload is not base64."""
        return b64decode(_opt_str(self, "delta") or "", "response.audio.delta 'delta'")


@event_type(AUDIO_DONE, optional=_IDS)
class AudioDone(_ResponsePart):
    pass


@event_type(AUDIO_TRANSCRIPT_DELTA, delta=str, optional=_IDS)
class AudioTranscriptDelta(TextDelta):
    pass


@event_type(AUDIO_TRANSCRIPT_DONE, optional={"transcript": str, **_IDS})
class AudioTranscriptDone(_ResponsePart):
    @property
    def transcript(self) -> str:
        return _opt_str(self, "transcript") or ""


@event_type(FUNCTION_ARGS_DELTA, optional={"call_id": str, "delta": str, **_IDS})
class FunctionCallArgumentsDelta(_ResponsePart):
    pass


@event_type(FUNCTION_ARGS_DONE,
            optional={"call_id": str, "name": str, "arguments": str, **_IDS})
class FunctionCallArgumentsDone(_ResponsePart):
    @property
    def call_id(self) -> str | None:
        return _opt_str(self, "call_id")

    @property
    def name(self) -> str | None:
        return _opt_str(self, "name")

    @property
    def arguments(self) -> str:
        return _opt_str(self, "arguments") or ""
