"""Client events (docs/protocol.md §3): typed values and builders, no I/O.

Builders return ``Event`` values; pass them to ``encode`` to get the frame. ``event_id`` is
optional on the wire: the builders add one only when the caller gives it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from omnichat.protocol.events import Event, b64decode, b64encode, event_type, make

SESSION_UPDATE = "session.update"
INPUT_AUDIO_APPEND = "input_audio_buffer.append"
INPUT_AUDIO_COMMIT = "input_audio_buffer.commit"
INPUT_AUDIO_CLEAR = "input_audio_buffer.clear"
INPUT_IMAGE_APPEND = "input_image_buffer.append"
ITEM_CREATE = "conversation.item.create"
RESPONSE_CREATE = "response.create"
RESPONSE_CANCEL = "response.cancel"
SESSION_FINISH = "session.finish"


@event_type(SESSION_UPDATE, session=dict)
class SessionUpdate(Event):
    @property
    def session(self) -> dict[str, Any]:
        value: dict[str, Any] = self.data["session"]  # decode checked it is an object
        return value


@event_type(INPUT_AUDIO_APPEND, audio=str)
class InputAudioAppend(Event):
    @property
    def pcm(self) -> bytes:
        """The 16-bit PCM payload; ``ProtocolError`` if it is not base64."""
        return b64decode(self.data["audio"], "input_audio_buffer.append 'audio'")


@event_type(INPUT_AUDIO_COMMIT)
class InputAudioCommit(Event):
    pass


@event_type(INPUT_AUDIO_CLEAR)
class InputAudioClear(Event):
    pass


@event_type(INPUT_IMAGE_APPEND, image=str)
class InputImageAppend(Event):
    pass


@event_type(ITEM_CREATE, item=dict)
class ItemCreate(Event):
    @property
    def item(self) -> dict[str, Any]:
        value: dict[str, Any] = self.data["item"]  # decode checked it is an object
        return value


@event_type(RESPONSE_CREATE)
class ResponseCreate(Event):
    @property
    def response(self) -> dict[str, Any]:
        value = self.data.get("response")
        return value if isinstance(value, dict) else {}


@event_type(RESPONSE_CANCEL)
class ResponseCancel(Event):
    pass


@event_type(SESSION_FINISH)
class SessionFinish(Event):
    pass


def _with_id(fields: dict[str, Any], event_id: str | None) -> dict[str, Any]:
    return ({"event_id": event_id} if event_id else {}) | fields


def session_update(session: Mapping[str, Any], *, event_id: str | None = None) -> Event:
    return make(SESSION_UPDATE, **_with_id({"session": dict(session)}, event_id))


def input_audio_append(pcm: bytes, *, event_id: str | None = None) -> Event:
    return make(INPUT_AUDIO_APPEND, **_with_id({"audio": b64encode(pcm)}, event_id))


def input_audio_commit(*, event_id: str | None = None) -> Event:
    return make(INPUT_AUDIO_COMMIT, **_with_id({}, event_id))


def input_audio_clear(*, event_id: str | None = None) -> Event:
    return make(INPUT_AUDIO_CLEAR, **_with_id({}, event_id))


def input_image_append(jpeg: bytes, *, event_id: str | None = None) -> Event:
    return make(INPUT_IMAGE_APPEND, **_with_id({"image": b64encode(jpeg)}, event_id))


def item_create(item: Mapping[str, Any], *, event_id: str | None = None) -> Event:
    return make(ITEM_CREATE, **_with_id({"item": dict(item)}, event_id))


def user_text_message(text: str, *, event_id: str | None = None) -> Event:
    """A typed user message (accepted by qwen3.5 models, docs/protocol.md §3.6)."""
    item = {"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}
    return item_create(item, event_id=event_id)


def function_call_output(call_id: str, output: str, *, event_id: str | None = None) -> Event:
    item = {"type": "function_call_output", "call_id": call_id, "output": output}
    return item_create(item, event_id=event_id)


def mcp_approval_response(approval_request_id: str, approve: bool, *,
                          event_id: str | None = None) -> Event:
    """The answer to an ``mcp_approval_request`` item (qwen3.8, docs/qwen38.md)."""
    item = {"type": "mcp_approval_response", "approval_request_id": approval_request_id,
            "approve": approve}
    return item_create(item, event_id=event_id)


def response_create(
    *,
    instructions: str | None = None,
    modalities: Sequence[str] | None = None,
    event_id: str | None = None,
) -> Event:
    response: dict[str, Any] = {}
    if instructions is not None:
        response["instructions"] = instructions
    if modalities is not None:
        response["modalities"] = list(modalities)
    fields = {"response": response} if response else {}
    return make(RESPONSE_CREATE, **_with_id(fields, event_id))


def response_cancel(*, event_id: str | None = None) -> Event:
    return make(RESPONSE_CANCEL, **_with_id({}, event_id))


def session_finish(*, event_id: str | None = None) -> Event:
    return make(SESSION_FINISH, **_with_id({}, event_id))
