"""Builders of server events (the emulator's side): each adds a fresh server-style
``event_id`` first, then ``type``, as the service does. Re-exported by the ``protocol``
package; ``server`` (the parsers) does not import them, so the two import one way only."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from omnichat.protocol.events import Event, b64encode, make
from omnichat.protocol.ids import new_event_id
from omnichat.protocol.server import (
    AUDIO_CLEARED,
    AUDIO_COMMITTED,
    AUDIO_DELTA,
    AUDIO_DONE,
    AUDIO_TRANSCRIPT_DELTA,
    AUDIO_TRANSCRIPT_DONE,
    CONTENT_PART_ADDED,
    CONTENT_PART_DONE,
    ERROR,
    FUNCTION_ARGS_DONE,
    ITEM_CREATED,
    OUTPUT_ITEM_ADDED,
    OUTPUT_ITEM_DONE,
    RESPONSE_CREATED,
    RESPONSE_DONE,
    SESSION_CREATED,
    SESSION_FINISHED,
    SESSION_UPDATED,
    SPEECH_STARTED,
    SPEECH_STOPPED,
    TEXT_DELTA,
    TEXT_DONE,
    TRANSCRIPTION_COMPLETED,
    TRANSCRIPTION_DELTA,
    TRANSCRIPTION_FAILED,
)


def server_event(type_name: str, **fields: Any) -> Event:
    """A server event with a fresh ``event_id`` first, then ``type``, then ``fields``."""
    return make(type_name, **({"event_id": new_event_id(), "type": type_name} | fields))


def error_event(
    message: str, *, type: str = "invalid_request_error", code: str = "", param: str = ""
) -> Event:
    return server_event(ERROR, error={"type": type, "code": code, "message": message,
                                      "param": param})


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


def _part_fields(response_id: str, item_id: str, output_index: int,
                 content_index: int) -> dict[str, Any]:
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


def function_call_arguments_done(response_id: str, item_id: str, call_id: str, name: str,
                                 arguments: str, output_index: int = 0) -> Event:
    return server_event(FUNCTION_ARGS_DONE, response_id=response_id, item_id=item_id,
                        output_index=output_index, name=name, call_id=call_id,
                        arguments=arguments)
