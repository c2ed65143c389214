"""Server events (protocol.md §4): typed values and builders, no I/O.

The client reads these through the typed accessors; the emulator builds them with the
builders, which always add a server-style ``event_id`` first, as the service does.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from omnichat.protocol.events import Event, b64decode, b64encode, event_type, make
from omnichat.protocol.ids import new_event_id

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


class _ResponsePart(Event):
    """Accessors shared by the events that belong to one response's output."""

    @property
    def response_id(self) -> str | None:
        return self.data.get("response_id")

    @property
    def item_id(self) -> str | None:
        return self.data.get("item_id")


@event_type(ERROR, error=dict)
class ErrorEvent(Event):
    @property
    def error(self) -> dict[str, Any]:
        return self.data["error"]

    @property
    def message(self) -> str:
        return str(self.error.get("message") or "")

    @property
    def code(self) -> str:
        return str(self.error.get("code") or "")

    @property
    def error_type(self) -> str:
        return str(self.error.get("type") or "")

    @property
    def param(self) -> str:
        return str(self.error.get("param") or "")


@event_type(SESSION_CREATED, session=dict)
class SessionCreated(Event):
    @property
    def session(self) -> dict[str, Any]:
        return self.data["session"]


@event_type(SESSION_UPDATED, session=dict)
class SessionUpdated(SessionCreated):
    pass


@event_type(SESSION_FINISHED)
class SessionFinished(Event):
    pass


@event_type(SPEECH_STARTED)
class SpeechStarted(Event):
    @property
    def audio_start_ms(self) -> int | None:
        return self.data.get("audio_start_ms")

    @property
    def item_id(self) -> str | None:
        return self.data.get("item_id")


@event_type(SPEECH_STOPPED)
class SpeechStopped(Event):
    @property
    def audio_end_ms(self) -> int | None:
        return self.data.get("audio_end_ms")

    @property
    def item_id(self) -> str | None:
        return self.data.get("item_id")


@event_type(AUDIO_COMMITTED)
class AudioCommitted(SpeechStopped):
    pass


@event_type(AUDIO_CLEARED)
class AudioCleared(Event):
    pass


@event_type(ITEM_CREATED, item=dict)
class ItemCreated(Event):
    @property
    def item(self) -> dict[str, Any]:
        return self.data["item"]


@event_type(TRANSCRIPTION_DELTA)
class TranscriptionDelta(_ResponsePart):
    @property
    def preview(self) -> str:
        """Confirmed text plus the revisable tail; each delta is a full refresh."""
        return str(self.data.get("text") or "") + str(self.data.get("stash") or "")


@event_type(TRANSCRIPTION_COMPLETED, transcript=str)
class TranscriptionCompleted(_ResponsePart):
    @property
    def transcript(self) -> str:
        return self.data["transcript"]


@event_type(TRANSCRIPTION_FAILED)
class TranscriptionFailed(_ResponsePart):
    @property
    def error(self) -> dict[str, Any]:
        value = self.data.get("error")
        return value if isinstance(value, dict) else {}


@event_type(RESPONSE_CREATED, response=dict)
class ResponseCreated(Event):
    @property
    def response(self) -> dict[str, Any]:
        return self.data["response"]

    @property
    def response_id(self) -> str | None:
        return self.response.get("id")


@event_type(RESPONSE_DONE, response=dict)
class ResponseDone(ResponseCreated):
    @property
    def status(self) -> str:
        return str(self.response.get("status") or "")

    @property
    def usage(self) -> dict[str, Any]:
        value = self.response.get("usage")
        return value if isinstance(value, dict) else {}


@event_type(OUTPUT_ITEM_ADDED, item=dict)
class OutputItemAdded(_ResponsePart):
    @property
    def item(self) -> dict[str, Any]:
        return self.data["item"]


@event_type(OUTPUT_ITEM_DONE, item=dict)
class OutputItemDone(OutputItemAdded):
    pass


@event_type(CONTENT_PART_ADDED)
class ContentPartAdded(_ResponsePart):
    pass


@event_type(CONTENT_PART_DONE)
class ContentPartDone(_ResponsePart):
    pass


@event_type(TEXT_DELTA, delta=str)
class TextDelta(_ResponsePart):
    @property
    def delta(self) -> str:
        return self.data["delta"]


@event_type(TEXT_DONE)
class TextDone(_ResponsePart):
    @property
    def text(self) -> str:
        return str(self.data.get("text") or "")


@event_type(AUDIO_DELTA, delta=str)
class AudioDelta(_ResponsePart):
    @property
    def pcm(self) -> bytes:
        """24 kHz 16-bit mono PCM; ``ProtocolError`` if the payload is not base64."""
        return b64decode(self.data["delta"], "response.audio.delta 'delta'")


@event_type(AUDIO_DONE)
class AudioDone(_ResponsePart):
    pass


@event_type(AUDIO_TRANSCRIPT_DELTA, delta=str)
class AudioTranscriptDelta(TextDelta):
    pass


@event_type(AUDIO_TRANSCRIPT_DONE)
class AudioTranscriptDone(_ResponsePart):
    @property
    def transcript(self) -> str:
        return str(self.data.get("transcript") or "")


@event_type(FUNCTION_ARGS_DELTA)
class FunctionCallArgumentsDelta(_ResponsePart):
    pass


@event_type(FUNCTION_ARGS_DONE)
class FunctionCallArgumentsDone(_ResponsePart):
    @property
    def call_id(self) -> str | None:
        return self.data.get("call_id")

    @property
    def name(self) -> str | None:
        return self.data.get("name")

    @property
    def arguments(self) -> str:
        return str(self.data.get("arguments") or "")


# --- builders (the emulator's side) ------------------------------------------------------------


def server_event(type_name: str, **fields: Any) -> Event:
    """A server event with a fresh ``event_id`` first, then ``type``, then ``fields``."""
    return make(type_name, **({"event_id": new_event_id(), "type": type_name} | fields))


def error_event(
    message: str, *, type: str = "invalid_request_error", code: str = "", param: str = ""
) -> Event:
    return server_event(ERROR, error={"type": type, "code": code, "message": message, "param": param})


def session_created(session: Mapping[str, Any]) -> Event:
    return server_event(SESSION_CREATED, session=dict(session))


def session_updated(session: Mapping[str, Any]) -> Event:
    return server_event(SESSION_UPDATED, session=dict(session))


def session_finished() -> Event:
    return server_event(SESSION_FINISHED)


def speech_started(audio_start_ms: int, item_id: str) -> Event:
    return server_event(SPEECH_STARTED, audio_start_ms=audio_start_ms, item_id=item_id)


def speech_stopped(audio_end_ms: int, item_id: str) -> Event:
    return server_event(SPEECH_STOPPED, audio_end_ms=audio_end_ms, item_id=item_id)


def audio_buffer_committed(item_id: str, previous_item_id: str | None = None) -> Event:
    extra = {"previous_item_id": previous_item_id} if previous_item_id else {}
    return server_event(AUDIO_COMMITTED, **extra, item_id=item_id)


def audio_buffer_cleared() -> Event:
    return server_event(AUDIO_CLEARED)


def item_created(item: Mapping[str, Any], previous_item_id: str | None = None) -> Event:
    extra = {"previous_item_id": previous_item_id} if previous_item_id else {}
    return server_event(ITEM_CREATED, **extra, item=dict(item))


def transcription_delta(item_id: str, text: str, stash: str = "", language: str = "en") -> Event:
    return server_event(TRANSCRIPTION_DELTA, item_id=item_id, content_index=0, text=text,
                        stash=stash, language=language, emotion="neutral")


def transcription_completed(item_id: str, transcript: str) -> Event:
    return server_event(TRANSCRIPTION_COMPLETED, item_id=item_id, content_index=0,
                        transcript=transcript)


def transcription_failed(item_id: str, message: str, code: str = "", param: str = "") -> Event:
    return server_event(TRANSCRIPTION_FAILED, item_id=item_id, content_index=0,
                        error={"code": code, "message": message, "param": param})


def response_created(response: Mapping[str, Any]) -> Event:
    return server_event(RESPONSE_CREATED, response=dict(response))


def response_done(response: Mapping[str, Any]) -> Event:
    return server_event(RESPONSE_DONE, response=dict(response))


def output_item_added(response_id: str, output_index: int, item: Mapping[str, Any]) -> Event:
    return server_event(OUTPUT_ITEM_ADDED, response_id=response_id, output_index=output_index,
                        item=dict(item))


def output_item_done(response_id: str, output_index: int, item: Mapping[str, Any]) -> Event:
    return server_event(OUTPUT_ITEM_DONE, response_id=response_id, output_index=output_index,
                        item=dict(item))


def _part_fields(response_id: str, item_id: str, output_index: int, content_index: int) -> dict:
    return {"response_id": response_id, "item_id": item_id, "output_index": output_index,
            "content_index": content_index}


def content_part_added(response_id: str, item_id: str, part: Mapping[str, Any],
                       output_index: int = 0, content_index: int = 0) -> Event:
    return server_event(CONTENT_PART_ADDED, **_part_fields(response_id, item_id, output_index,
                                                            content_index), part=dict(part))


def content_part_done(response_id: str, item_id: str, part: Mapping[str, Any],
                      output_index: int = 0, content_index: int = 0) -> Event:
    return server_event(CONTENT_PART_DONE, **_part_fields(response_id, item_id, output_index,
                                                           content_index), part=dict(part))


def text_delta(response_id: str, item_id: str, delta: str, output_index: int = 0) -> Event:
    return server_event(TEXT_DELTA, **_part_fields(response_id, item_id, output_index, 0),
                        delta=delta)


def text_done(response_id: str, item_id: str, text: str, output_index: int = 0) -> Event:
    return server_event(TEXT_DONE, **_part_fields(response_id, item_id, output_index, 0),
                        text=text)


def audio_delta(response_id: str, item_id: str, pcm: bytes, output_index: int = 0) -> Event:
    return server_event(AUDIO_DELTA, **_part_fields(response_id, item_id, output_index, 0),
                        delta=b64encode(pcm))


def audio_done(response_id: str, item_id: str, output_index: int = 0) -> Event:
    return server_event(AUDIO_DONE, **_part_fields(response_id, item_id, output_index, 0))


def audio_transcript_delta(response_id: str, item_id: str, delta: str,
                           output_index: int = 0) -> Event:
    return server_event(AUDIO_TRANSCRIPT_DELTA,
                        **_part_fields(response_id, item_id, output_index, 0), delta=delta)


def audio_transcript_done(response_id: str, item_id: str, transcript: str,
                          output_index: int = 0) -> Event:
    return server_event(AUDIO_TRANSCRIPT_DONE,
                        **_part_fields(response_id, item_id, output_index, 0),
                        transcript=transcript)


def function_call_arguments_delta(response_id: str, item_id: str, call_id: str, delta: str,
                                  output_index: int = 0) -> Event:
    return server_event(FUNCTION_ARGS_DELTA, response_id=response_id, item_id=item_id,
                        output_index=output_index, call_id=call_id, delta=delta)


def function_call_arguments_done(response_id: str, item_id: str, call_id: str, name: str,
                                 arguments: str, output_index: int = 0) -> Event:
    return server_event(FUNCTION_ARGS_DONE, response_id=response_id, item_id=item_id,
                        output_index=output_index, name=name, call_id=call_id,
                        arguments=arguments)
