"""Push-to-talk: the microphone gate, and turns driven by WAV files.

With manual turns (``turn_detection: null``) the service keeps every appended block in its
input buffer until ``input_audio_buffer.commit`` (or ``.clear``): a microphone that streamed
all the time would make each turn start with everything said (or heard) since the last one.
So ``MicGate`` sits between the microphone and the engine and lets blocks through only while
a recording runs (Space held, or between two presses). It keeps a bounded copy of the
recording so ``send()`` can refuse one that is too short or silent
(``utterances.why_not_sent``): that one is cleared on the server instead of committed, and
the screen says why. Commit and clear go behind the turn's queued audio (``behind_audio``).

``FileTurns`` is the thread ``omnichat-file-turns`` for ``ptt --input`` without a terminal:
one turn per file, or (one file) one per utterance split on silence. It feeds each turn's
blocks through the gate (paced like a microphone), sends it, and waits until the
conversation is idle before the next; ``file_done`` is set after the last reply.
It blocks in ``Event.wait`` only; ``close()`` sets its stop Event and joins it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from omnichat.audio import BLOCK_MS, MIC_RATE_HZ
from omnichat.audio.utterances import split_utterances, why_not_sent
from omnichat.audio.wav import read_wav_mono
from omnichat.engine import Engine
from omnichat.engine import commands as cmd
from omnichat.engine import updates as up

MAX_KEPT_S = 120  # the copy kept for why_not_sent; longer recordings are still sent whole
IDLE_POLL_S = 0.05
ROOM_BLOCKS = 10  # an unpaced file waits while fewer blocks fit in the engine's queue
ROOM_WAIT_S = BLOCK_MS / 1000


class MicGate:
    """Microphone blocks -> the engine, only while recording; see the module docstring.

    ``on_block`` runs on the audio callback: it takes ``_lock`` for a flag test and one list
    append. ``start``/``send``/``drop`` run on the key thread (or ``FileTurns``).
    """

    def __init__(self, engine: Engine, *, hold: bool = False,
                 feed: Callable[[bytes], None] | None = None) -> None:
        self._engine = engine
        self._feed = feed or engine.feed_mic  # the engine (and the --record tee)
        self.hold = hold  # the terminal reports key release: hold Space to talk
        self._lock = threading.Lock()  # guards _recording and _kept (callback vs key thread)
        self._recording = False
        self._kept: list[bytes] = []
        self._kept_samples = 0

    @property
    def recording(self) -> bool:
        return self._recording

    def on_block(self, block: bytes) -> None:
        """The microphone's ``on_block``: forward while recording, else drop."""
        with self._lock:
            if not self._recording:
                return
            if self._kept_samples < MAX_KEPT_S * MIC_RATE_HZ:
                self._kept.append(block)
                self._kept_samples += len(block) // 2
        self._feed(block)

    def start(self) -> None:
        """Begin a recording; a reply still playing or being generated is interrupted."""
        if self._engine.status in (up.SPEAKING, up.THINKING):
            self._engine.command(cmd.Interrupt())
        with self._lock:
            self._recording, self._kept, self._kept_samples = True, [], 0
        self._changed()

    def send(self) -> str | None:
        """End the recording: commit it and ask for a reply, or (too short, silent) clear it
        and return why it was not sent."""
        pcm = self._stop()
        if pcm is None:
            return None
        reason = why_not_sent(pcm, MIC_RATE_HZ, hold=self.hold)
        if reason is None:
            self._engine.command(cmd.Commit())
            return None
        self._engine.command(cmd.ClearInput())
        self._engine.updates.put(up.Notice(f"not sent: {reason}", level="info"))
        return reason

    def drop(self) -> bool:
        """Esc: forget the recording (the server's buffer is cleared). False: none ran."""
        if self._stop() is None:
            return False
        self._engine.command(cmd.ClearInput())
        self._engine.updates.put(up.Notice("recording dropped (Esc); nothing was sent",
                                           level="info"))
        return True

    def _stop(self) -> np.ndarray | None:
        with self._lock:
            if not self._recording:
                return None
            self._recording = False
            kept, self._kept = self._kept, []
        self._changed()
        return np.frombuffer(b"".join(kept), dtype="<i2")

    def _changed(self) -> None:
        self._engine.updates.put(up.PushToTalkChanged(self._recording, self.hold))


def file_turns(paths: Sequence[Path]) -> list[np.ndarray]:
    """The turns of ``ptt --input``: one per file, or the utterances of a single file."""
    clips = [read_wav_mono(Path(p), MIC_RATE_HZ) for p in paths]  # UsageError on a bad file
    if len(clips) != 1:
        return clips
    return [u.pcm for u in split_utterances(clips[0], MIC_RATE_HZ)] or clips


class FileTurns:
    """Thread ``omnichat-file-turns``: each clip is one push-to-talk turn; see the module."""

    def __init__(self, engine: Engine, gate: MicGate, clips: Sequence[np.ndarray], *,
                 pace: float = 1.0) -> None:
        self._engine, self._gate, self._clips, self._pace = engine, gate, list(clips), pace
        self.file_done = threading.Event()  # every turn was sent and answered
        self.error: BaseException | None = None
        self.level_dbfs: float | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._turn_loop, name="omnichat-file-turns")

    def start(self) -> None:
        self._thread.start()

    def close(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(5.0)

    def __enter__(self) -> FileTurns:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _turn_loop(self) -> None:
        try:
            for clip in self._clips:
                if not self._wait_idle():
                    return
                self._gate.start()
                if not self._feed(clip):
                    return
                if self._gate.send() is None:
                    self._wait_reply_started()
            if self._wait_idle():
                self.file_done.set()
        except BaseException as exc:  # re-raised on the main thread (talk's loop)
            self.error = exc

    def _feed(self, clip: np.ndarray) -> bool:
        block = MIC_RATE_HZ * BLOCK_MS // 1000
        started = time.monotonic()
        for index in range(0, clip.size, block):
            if self._pace > 0:
                due = started + index / MIC_RATE_HZ / self._pace
                if self._stop.wait(max(0.0, due - time.monotonic())):
                    return False
            elif not self._wait_room():
                return False
            self._gate.on_block(np.ascontiguousarray(clip[index:index + block]).tobytes())
        return True

    def _wait_room(self) -> bool:
        """Unpaced: wait until the engine's queue has room (never drop a file's audio)."""
        while self._engine.mic_room < ROOM_BLOCKS:
            if self._stop.wait(ROOM_WAIT_S) or self._engine.stopping:
                return False
        return not self._stop.is_set()

    def _wait_reply_started(self) -> None:
        """After a commit the engine is busy at once (a reply is pending); wait for that."""
        while self._engine.is_idle() and not self._stop.wait(IDLE_POLL_S):
            if self._engine.stopping:
                return

    def _wait_idle(self) -> bool:
        while not self._engine.is_idle():
            if self._stop.wait(IDLE_POLL_S) or self._engine.stopping:
                return False
        return not self._stop.is_set()
