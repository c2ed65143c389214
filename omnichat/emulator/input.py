"""``UserInput``: what the user sends: audio (server VAD or manual commit), images, text items.

Part of one ``EmulatorConnection`` (it holds a reference to it for the session config, the
history and to queue events); every method runs on the connection's handler thread with its
state lock held. Audio positions are in session audio time (samples received), never
wall-clock time. The uncommitted audio buffer is trimmed outside speech, so it holds at most
one utterance plus the prefix padding.
"""

from __future__ import annotations

import base64
import binascii
import io
from collections.abc import Callable
from typing import Any, Protocol

import numpy as np
from PIL import Image, UnidentifiedImageError

from omnichat import protocol
from omnichat.emulator import config as cfg
from omnichat.emulator.history import Item
from omnichat.emulator.mcp_remote import PlannedMcp
from omnichat.emulator.options import EmulatorOptions
from omnichat.emulator.responder import Response
from omnichat.emulator.transcription import Transcription
from omnichat.emulator.vad import EnergyVad
from omnichat.protocol.events import Event, b64decode
from omnichat.protocol.ids import new_id

JPEG_MAGIC = b"\xff\xd8\xff"
IMAGE_BEFORE_AUDIO = "Error append image before append audio."
MAX_IMAGE_SIDE_PX = (1920, 1080)  # "max 1080p", either orientation


class InputHost(Protocol):
    """What ``UserInput`` uses of its connection (an ``EmulatorConnection``).

    Declared here so that this module does not import the connection, which imports it.
    """

    config: dict[str, Any]  # the service's session object
    options: EmulatorOptions
    response: Response | None
    last_item_id: str | None
    transcription: Transcription
    pending_approvals: dict[str, PlannedMcp]  # MCP approval requests awaiting an answer

    def send(self, event: Event | dict[str, Any]) -> None: ...

    def start_response(self, modalities: list[str]) -> None: ...

    def mcp_answered(self, request_id: str, approve: bool) -> None: ...

    def remember(self, item: Item) -> None: ...


class UserInput:
    def __init__(self, connection: InputHost) -> None:
        self.conn = connection
        self.audio_received = False  # the image-before-audio rule
        self.audio_samples = 0  # samples received in this session: the audio clock
        self._buffer = bytearray()  # audio not yet committed
        self._buffer_start = 0  # session sample index of _buffer[0]
        self._images: list[tuple[int, int]] = []  # image sizes not yet committed
        self._speech_item: str | None = None
        self._onset_ms = 0
        self._audio_items = 0
        self.vad: EnergyVad | None = None
        self.reset_vad()

    @property
    def rate_hz(self) -> int:
        return cfg.input_rate_hz(self.conn.config)

    @property
    def _turn(self) -> dict[str, Any]:
        turn: dict[str, Any] = self.conn.config["turn_detection"]
        return turn

    def _ms(self, samples: int) -> int:
        return samples * 1000 // self.rate_hz

    def reset_vad(self) -> None:
        turn = self.conn.config.get("turn_detection")
        self._speech_item = None
        if not turn:
            self.vad = None
            return
        self.vad = EnergyVad(threshold=turn["threshold"], silence_ms=turn["silence_duration_ms"],
                             rate_hz=self.rate_hz,
                             semantic=turn["type"] == "semantic_vad",
                             start_ms=self._ms(self.audio_samples))

    # --- audio ------------------------------------------------------------------------------

    def on_audio_append(self, event: Event) -> None:
        pcm = b64decode(str(event.get("audio")), "input_audio_buffer.append 'audio'")
        channels = cfg.input_channels(self.conn.config)
        if channels > 1:  # a microphone array (qwen3.8): the VAD hears the first channel
            frames = np.frombuffer(pcm[:len(pcm) - len(pcm) % (2 * channels)], dtype="<i2")
            pcm = frames.reshape(-1, channels)[:, 0].tobytes()
        self.audio_received = True
        self._buffer += pcm
        self.audio_samples += len(pcm) // 2
        if self.vad is None:
            return
        for vad_event in self.vad.feed(pcm):
            if vad_event.kind == "start":
                self._speech_started(vad_event.ms)
            else:
                self._speech_stopped(vad_event.ms)
        if self._speech_item is None:
            self._trim_buffer()

    def _trim_buffer(self) -> None:
        """Outside speech keep only what prefix padding and speech onset may still need."""
        keep_ms = int(self._turn["prefix_padding_ms"]) + 400
        keep = keep_ms * self.rate_hz // 1000 * 2
        if len(self._buffer) > 2 * keep:
            cut = len(self._buffer) - keep
            cut -= cut % 2
            del self._buffer[:cut]
            self._buffer_start += cut // 2

    def _speech_started(self, onset_ms: int) -> None:
        conn = self.conn
        self._speech_item = new_id("item")
        self._onset_ms = onset_ms
        conn.send(protocol.speech_started(onset_ms, self._speech_item))
        if conn.response is not None and self._turn.get("interrupt_response", True):
            conn.response.cancel(conn.options.cancel_response_done)

    def _speech_stopped(self, end_ms: int) -> None:
        conn, turn = self.conn, self._turn
        item_id = self._speech_item or new_id("item")
        self._speech_item = None
        conn.send(protocol.speech_stopped(end_ms, item_id))
        rate = self.rate_hz
        first = max(self._buffer_start, (self._onset_ms - int(turn["prefix_padding_ms"]))
                    * rate // 1000)
        last = max(first, end_ms * rate // 1000)
        pcm = bytes(self._buffer[(first - self._buffer_start) * 2:(last - self._buffer_start) * 2])
        del self._buffer[:(last - self._buffer_start) * 2]
        self._buffer_start = last
        self._commit(item_id, pcm)
        if turn.get("create_response", True) and conn.response is None:
            conn.start_response(list(conn.config["modalities"]))

    def on_audio_commit(self, event: Event) -> None:
        if not self._buffer and not self._images:
            self.conn.send(protocol.error_event(
                "Error committing input audio buffer: the buffer is empty.",
                code="input_audio_buffer_commit_empty"))
            return
        item_id = self._speech_item or new_id("item")
        pcm = bytes(self._buffer)
        self._buffer_start += len(self._buffer) // 2
        self._buffer.clear()
        self.reset_vad()
        self._commit(item_id, pcm)

    def on_audio_clear(self, event: Event) -> None:
        self._buffer_start += len(self._buffer) // 2
        self._buffer.clear()
        self._images.clear()
        self.reset_vad()
        self.conn.send(protocol.audio_buffer_cleared())

    def _commit(self, item_id: str, pcm: bytes) -> None:
        conn = self.conn
        audio_s = len(pcm) / 2 / self.rate_hz
        images, self._images = self._images, []
        conn.send(protocol.audio_buffer_committed(item_id))
        item = {"id": item_id, "object": "realtime.item", "type": "message",
                "status": "in_progress", "role": "user", "content": [{"type": "input_audio"}]}
        conn.send(protocol.item_created(item, conn.last_item_id))
        conn.last_item_id = item_id
        heard = Item(item_id, "user", audio_s=audio_s, images=images,
                     channels=cfg.input_channels(conn.config))
        conn.remember(heard)
        if conn.config.get("input_audio_transcription") is not None:
            heard.transcript = self._transcript(pcm, audio_s)
            for event in conn.transcription.committed(item_id, heard.transcript):
                conn.send(event)

    def _transcript(self, pcm: bytes, audio_s: float) -> str:
        self._audio_items += 1
        source = self.conn.options.transcripts
        if callable(source):
            text = source(pcm, self.rate_hz)
        elif source and self._audio_items <= len(source):
            text = source[self._audio_items - 1]
        else:
            text = None
        return text if text is not None else f"[{audio_s:.1f} s of speech]"

    # --- images -----------------------------------------------------------------------------

    def on_image_append(self, event: Event) -> None:
        send = self.conn.send
        if not self.audio_received:
            send(protocol.error_event(IMAGE_BEFORE_AUDIO, param="image"))
            return
        encoded = str(event.get("image"))
        limit = self.conn.options.image_limit_b64_bytes
        if len(encoded) > limit:
            send(protocol.error_event(
                f"Image too large: {len(encoded)} base64 bytes, the limit is {limit}.",
                code="invalid_value", param="image"))
            return
        size = _jpeg_size(encoded)
        if isinstance(size, str):
            send(protocol.error_event(size, code="invalid_value", param="image"))
            return
        if max(size) > MAX_IMAGE_SIDE_PX[0] or min(size) > MAX_IMAGE_SIDE_PX[1]:
            send(protocol.error_event(
                f"Image resolution {size[0]}x{size[1]} exceeds 1080p.",
                code="invalid_value", param="image"))
            return
        self._images.append(size)

    # --- text and tool items ----------------------------------------------------------------

    def on_item_create(self, event: Event) -> None:
        conn, item = self.conn, dict(event.get("item") or {})
        kind = item.get("type")
        item_id = item.get("id") or new_id("item")
        if kind == "message" and item.get("role", "user") == "user":
            reply = self._user_text_item(item, item_id)
        elif kind == "mcp_approval_response":
            reply = self._approval(item, item_id)
        elif kind == "function_call_output":
            reply = {"id": item_id, "object": "realtime.item", "type": kind,
                     "status": "completed", "call_id": item.get("call_id"),
                     "output": item.get("output")}
            conn.remember(Item(item_id, "tool", text=str(item.get("output") or "")))
        else:
            reply = None
        if isinstance(reply, str) or reply is None:
            conn.send(protocol.error_event(reply or f"Unsupported item type: {kind!r}.",
                                           code="invalid_value", param="item"))
            return
        conn.send(protocol.item_created(reply, conn.last_item_id))
        conn.last_item_id = item_id
        if kind == "mcp_approval_response":
            conn.mcp_answered(str(reply["approval_request_id"]), bool(reply["approve"]))

    def _approval(self, item: dict[str, Any], item_id: str) -> dict[str, Any] | str:
        """An ``mcp_approval_response`` (qwen3.8): it must answer a request still open."""
        request_id, approve = item.get("approval_request_id"), item.get("approve")
        if not isinstance(approve, bool):
            return "approve must be true or false."
        if request_id not in self.conn.pending_approvals:
            return f"Unknown approval_request_id: {str(request_id)[:64]!r}."
        return {"id": item_id, "object": "realtime.item", "type": "mcp_approval_response",
                "status": "completed", "approval_request_id": request_id, "approve": approve}

    def _user_text_item(self, item: dict[str, Any], item_id: str) -> dict[str, Any] | str:
        content = item.get("content")
        if not isinstance(content, list) or not content:
            return "Item content must be a non-empty list."
        texts = []
        for part in content:
            if not isinstance(part, dict):
                return "Item content parts must be objects."
            if part.get("type") == "input_image" and part.get("image_url"):
                return "Invalid video file."
            if part.get("type") == "input_text":
                texts.append(str(part.get("text") or ""))
        self.conn.remember(Item(item_id, "user", text=" ".join(texts)))
        parts = [p for p in content if p.get("type") == "input_text"]
        return {"id": item_id, "object": "realtime.item", "type": "message",
                "status": "completed", "role": "user", "content": parts}

    HANDLERS: dict[str, Callable[[UserInput, Event], None]] = {
        protocol.INPUT_AUDIO_APPEND: on_audio_append,
        protocol.INPUT_AUDIO_COMMIT: on_audio_commit,
        protocol.INPUT_AUDIO_CLEAR: on_audio_clear,
        protocol.INPUT_IMAGE_APPEND: on_image_append,
        protocol.ITEM_CREATE: on_item_create,
    }


def _jpeg_size(encoded: str) -> tuple[int, int] | str:
    """(width, height) of a base64 JPEG, or the error message to send."""
    try:
        data = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        return "Image is not valid base64."
    if not data.startswith(JPEG_MAGIC):
        return "Unsupported image format: only JPEG images are accepted."
    try:
        with Image.open(io.BytesIO(data)) as image:
            width, height = image.size
            return int(width), int(height)
    except (UnidentifiedImageError, OSError):
        return "Invalid image file."
