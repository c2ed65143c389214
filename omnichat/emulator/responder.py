"""One model response, streamed by its own thread: ``response.created`` ... ``response.done``.

The thread ``omnichat-emulator-response-N`` owns the pacing. It blocks only in
``Pacer.wait_until`` (a condition wait with a deadline); ``cancel()`` and session close
notify that condition, so a cancelled response stops before its next packet. Every send
happens under the session lock, and the thread re-checks ``cancelled`` under that lock, so
once ``cancel()`` returned no further delta of this response reaches the wire.
"""

from __future__ import annotations

import math
import threading
import time
from typing import TYPE_CHECKING, Any

from omnichat import protocol
from omnichat.emulator import speech
from omnichat.emulator.usage import Context, usage

if TYPE_CHECKING:
    from omnichat.emulator.session import Session

PACKET_MS = 200  # ~100-300 ms per response.audio.delta, like the service
TEXT_DELTA_S = 0.05  # pause between text deltas when paced in real time
# The service generates speech faster than it plays, so a client receives audio a little
# ahead of the listener. Sending packet N exactly when packet N-1 ends playing would make any
# client underrun at every packet boundary; a real-time pace with this lead does not.
AUDIO_LEAD_S = 0.4


class Pacer:
    """Speed and the test-only hold gate, shared by all responses of an emulator."""

    def __init__(self, speed: str | float) -> None:
        if speed == "fast":
            self.factor = math.inf
        elif speed == "realtime":
            self.factor = 1.0
        else:
            self.factor = float(speed)
            if self.factor <= 0:
                raise ValueError("speed must be 'realtime', 'fast' or a positive factor")
        self.cond = threading.Condition()  # notified by cancel, close and release
        self.held_after: int | None = None  # hold every response after N audio/text packets

    def wake(self) -> None:
        with self.cond:
            self.cond.notify_all()

    def wait_until(self, deadline: float, stop) -> None:
        """Block until ``deadline`` (monotonic, already scaled) or until ``stop()``."""
        with self.cond:
            self.cond.wait_for(lambda: stop() or time.monotonic() >= deadline,
                               timeout=max(0.0, deadline - time.monotonic()))

    def wait_released(self, packets_sent: int, stop) -> None:
        with self.cond:
            self.cond.wait_for(lambda: stop() or self.held_after is None
                               or packets_sent < self.held_after)


class Response:
    """State of the one active response of a session (guarded by the session lock)."""

    def __init__(self, session: Session, index: int, text: str, modalities: list[str],
                 context: Context) -> None:
        self.session = session
        self.id = protocol.new_id("resp")
        self.item_id = protocol.new_id("item")
        self.text = text
        self.audio = "audio" in modalities
        self.modalities = ["text", "audio"] if self.audio else ["text"]
        self.context = context
        self.cancelled = False
        self.sent_text = ""  # what the client has seen so far (for interrupted item events)
        self.sent_audio_s = 0.0
        self.thread = threading.Thread(target=self._run, daemon=False,
                                       name=f"omnichat-emulator-response-{index}")

    # --- shapes -----------------------------------------------------------------------------

    def envelope(self, status: str, output: list[dict[str, Any]] | None = None) -> dict:
        s = self.session
        return {"id": self.id, "object": "realtime.response", "conversation_id": s.conversation_id,
                "status": status, "modalities": self.modalities, "voice": s.config.get("voice"),
                "output_audio_format": s.config.get("output_audio_format", "pcm"),
                "output": output or []}

    def item(self, status: str, content: list[dict[str, Any]] | None = None) -> dict:
        return {"id": self.item_id, "object": "realtime.item", "type": "message",
                "status": status, "role": "assistant", "content": content or []}

    def part(self, text: str) -> dict:
        return {"type": "audio", "text": text} if self.audio else {"type": "text", "text": text}

    # --- the thread -------------------------------------------------------------------------

    def _stopped(self) -> bool:
        return self.cancelled or self.session.closed.is_set()

    def _run(self) -> None:
        s = self.session
        with s.lock:
            if self._stopped():
                return
            s.send(protocol.response_created(self.envelope("in_progress")))
            s.send(protocol.output_item_added(self.id, 0, self.item("in_progress")))
            s.send(protocol.item_created(self.item("in_progress"), s.last_item_id))
            s.last_item_id = self.item_id
            s.send(protocol.content_part_added(self.id, self.item_id, self.part("")))
        if self.audio:
            self._stream_audio()
        else:
            self._stream_text()
        with s.lock:
            if not self._stopped():
                self._finish()

    def _packets(self) -> list[tuple[str, bytes]]:
        """(transcript piece, PCM) per packet: words spread evenly over the audio."""
        rate = self.session.output_rate_hz
        pcm = speech.synthesize(self.text, self.session.config.get("voice"), rate)
        size = rate * PACKET_MS // 1000 * 2
        chunks = [pcm[i:i + size] for i in range(0, len(pcm), size)] or [b""]
        words = self.text.split(" ")
        pieces, start = [], 0
        for index in range(len(chunks)):
            end = math.ceil(len(words) * (index + 1) / len(chunks))
            piece = " ".join(words[start:end])
            pieces.append(piece if start == 0 or not piece else " " + piece)
            start = end
        return list(zip(pieces, chunks))

    def _stream_audio(self) -> None:
        s, pacer = self.session, self.session.pacer
        rate = s.output_rate_hz
        t0 = time.monotonic()
        for index, (piece, pcm) in enumerate(self._packets()):
            pacer.wait_released(index, self._stopped)
            pacer.wait_until(t0 + max(0.0, self.sent_audio_s - AUDIO_LEAD_S) / pacer.factor,
                             self._stopped)
            with s.lock:
                if self._stopped():
                    return
                if piece:
                    s.send(protocol.audio_transcript_delta(self.id, self.item_id, piece))
                    self.sent_text += piece
                s.send(protocol.audio_delta(self.id, self.item_id, pcm))
                s.audio_generated = True
                self.sent_audio_s += len(pcm) / 2 / rate
                s.after_delta()

    def _stream_text(self) -> None:
        s, pacer = self.session, self.session.pacer
        words = self.text.split(" ")
        t0 = time.monotonic()
        for index, word in enumerate(words):
            piece = word if index == 0 else " " + word
            pacer.wait_released(index, self._stopped)
            pacer.wait_until(t0 + index * TEXT_DELTA_S / pacer.factor, self._stopped)
            with s.lock:
                if self._stopped():
                    return
                s.send(protocol.text_delta(self.id, self.item_id, piece))
                self.sent_text += piece
                s.after_delta()

    # --- endings (called with the session lock held) ----------------------------------------

    def _close_item(self, text: str, status: str) -> dict:
        """Send the *.done events of the item; return the item as response.done shows it."""
        s = self.session
        if self.audio:
            s.send(protocol.audio_transcript_done(self.id, self.item_id, text))
            s.send(protocol.audio_done(self.id, self.item_id))
        else:
            s.send(protocol.text_done(self.id, self.item_id, text))
        s.send(protocol.content_part_done(self.id, self.item_id, self.part(text)))
        content = [{"type": "audio", "transcript": text}] if self.audio else [{"type": "text"}]
        s.send(protocol.output_item_done(self.id, 0, self.item(status, content)))
        s.remember_assistant(self.item_id, text)
        if not self.audio:
            content = [{"type": "text", "text": text}]
        return self.item(status, content)

    def _finish(self) -> None:
        s = self.session
        item = self._close_item(self.text, "completed")
        done = self.envelope("completed", [item])
        done["usage"] = self._usage(self.text)
        s.send(protocol.response_done(done))
        s.response_ended(self)

    def cancel(self, done_status: str | None) -> None:
        """Stop streaming; send the item's *.done events and, if configured, response.done."""
        s = self.session
        self.cancelled = True
        s.pacer.wake()
        item = self._close_item(self.sent_text, "incomplete")
        if done_status:
            done = self.envelope(done_status, [item])
            done["usage"] = self._usage(self.sent_text)
            s.send(protocol.response_done(done))
        s.response_ended(self)

    def _usage(self, text: str) -> dict[str, Any]:
        s = self.session
        return usage(s.model, self.context, output_text=text,
                     output_audio_s=self.sent_audio_s if self.audio else 0.0,
                     searched=bool(s.config.get("enable_search")))
