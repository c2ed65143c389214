"""Regression tests for the engine defects of issue 7, with the threads placed by hooks (no
sleeps). Each failed on the engine before the rework (engine/session.py + receive.py):

1. the played-audio tap counted flushed samples as heard (a barge-in between the tap's read
   and its compare) and logged a false latency;
2. ``_fail`` was check-then-set from three threads: a later error replaced the root cause;
3. ``reconnect()`` published the new socket before ``session.update``: audio went first;
6. a user turn whose transcription never came vanished from the transcript.
"""

from __future__ import annotations

import base64
import threading

import numpy as np
import pytest
from fake_transport import ScriptedTransport
from test_engine_support import session_for, wait_for, wait_until

from omnichat.audio.playback import PlaybackBuffer
from omnichat.engine import Engine
from omnichat.engine import updates as up
from omnichat.engine.turns import Turn
from omnichat.errors import ProtocolError, ServiceError

SILENCE_100MS = bytes(3200)


def _audio(samples: int) -> str:
    return base64.b64encode(np.full(samples, 500, dtype="<i2").tobytes()).decode()


def test_1_a_flush_between_the_taps_read_and_compare_is_not_heard():
    """Reply 2 is queued behind reply 1; the speaker reads a block of reply 1 and a barge-in
    flushes everything before the tap compares: nothing of reply 2 was heard."""
    transport = ScriptedTransport()
    playback = PlaybackBuffer()
    armed = threading.Event()

    def barge_in_between_read_and_compare(block) -> None:  # runs before the engine's tap
        if armed.is_set():
            armed.clear()
            playback.flush()

    playback.add_played_listener(barge_in_between_read_and_compare)
    turns: list[Turn] = []
    engine = Engine(session_for(), connect=lambda: transport, playback=playback,
                    on_turn=turns.append)
    seen: list[up.Update] = []
    with engine:
        transport.push("response.created", response={"id": "resp_1"})
        transport.push("response.audio.delta", response_id="resp_1", delta=_audio(4800))
        transport.push("response.done", response={"id": "resp_1", "status": "completed"})
        transport.push("input_audio_buffer.speech_stopped", audio_end_ms=1000)
        transport.push("response.created", response={"id": "resp_2"})
        transport.push("response.audio.delta", response_id="resp_2", delta=_audio(4800))
        wait_until(engine, lambda: playback.written_samples == 9600, seen=seen)
        armed.set()
        playback.read_into(np.zeros(480, dtype=np.int16))  # 480 samples of reply 1 only
        playback.read_into(np.zeros(480, dtype=np.int16))
        transport.push("response.done", response={"id": "resp_2", "status": "completed"})
        wait_for(engine, lambda u: isinstance(u, up.TurnFinished)
                 and u.turn.response_id == "resp_2", seen=seen)
    second = next(t for t in turns if t.response_id == "resp_2")
    assert second.latency_ms is None  # nobody heard it: no latency to report
    assert not [u for u in seen if isinstance(u, up.LatencyMeasured)]


class _FailureLockSpy:
    """The engine's failure lock, telling ``waiting`` when a thread starts to acquire it."""

    def __init__(self, lock, waiting: threading.Event):
        self._lock, self._waiting = lock, waiting

    def __enter__(self):
        if threading.current_thread().name == "fail-B":
            self._waiting.set()
        return self._lock.__enter__()

    def __exit__(self, *exc):
        return self._lock.__exit__(*exc)


class _HeldFailure(Engine):
    """``_fail`` of thread ``fail-A`` is held right after it read "no failure yet", until
    thread ``fail-B`` has tried to record its own failure (or has done so)."""

    def __init__(self, *args, **kwargs):
        self.a_checked = threading.Event()
        self.b_tried = threading.Event()  # B waits on the failure lock, or B's _fail returned
        super().__init__(*args, **kwargs)

    @property
    def _failure(self):
        value = self.__dict__["_failure_value"]
        if threading.current_thread().name == "fail-A" and not self.a_checked.is_set():
            self.a_checked.set()
            self.b_tried.wait(5)
        return value

    @_failure.setter
    def _failure(self, value) -> None:
        self.__dict__["_failure_value"] = value


def test_2_the_first_failure_wins_across_threads():
    """Thread A fails first and is held right after checking "no failure yet"; thread B
    fails meanwhile. The user must see one root cause, A's, and close() must raise it."""
    engine = _HeldFailure(session_for(), connect=lambda: ScriptedTransport())
    engine._failure_lock = _FailureLockSpy(engine._failure_lock, engine.b_tried)

    def fail_b() -> None:
        try:
            engine._fail(ServiceError("B"))
        finally:
            engine.b_tried.set()

    first = threading.Thread(target=engine._fail, args=(ProtocolError("A"),), name="fail-A")
    first.start()
    assert engine.a_checked.wait(5)
    second = threading.Thread(target=fail_b, name="fail-B")
    second.start()
    first.join(5)
    second.join(5)
    failed = [u.error for u in engine.poll(0) if isinstance(u, up.Failed)]
    assert [str(e) for e in failed] == ["A"]
    with pytest.raises(ProtocolError) as raised:
        engine.close()
    assert raised.value is failed[0]


def test_3_reconnect_configures_the_new_socket_before_any_audio():
    """While the new socket is being configured, the microphone keeps delivering: nothing
    but session.update may go out first, and only the sender thread writes."""
    transports: list[ScriptedTransport] = []
    engine: Engine

    def hold_session_update(event) -> None:
        # Before the rework the main thread sent session.update: hold it until the sender
        # had a chance to put audio on the new socket. The sender itself never waits here.
        if event.type == "session.update" and threading.current_thread().name != "omnichat-send":
            for _ in range(3):
                engine.feed_mic(SILENCE_100MS)
            transports[-1].wait_sent("input_audio_buffer.append", timeout_s=5)

    def connect() -> ScriptedTransport:
        transports.append(ScriptedTransport(f"fake://{len(transports) + 1}",
                                            on_send=hold_session_update if transports else None))
        return transports[-1]

    engine = Engine(session_for(), connect=connect, playback=None)
    with engine:
        engine.feed_mic(SILENCE_100MS)
        assert transports[0].wait_sent("input_audio_buffer.append")
        engine.reconnect()
        engine.feed_mic(SILENCE_100MS)
        assert transports[1].wait_sent("input_audio_buffer.append")
    new = transports[1]
    assert new.types()[0] == "session.update"
    assert {name for t in transports for name, _ in t.sent} == {"omnichat-send"}


def test_6_a_user_turn_whose_transcription_never_comes_is_kept_and_comes_first():
    transport = ScriptedTransport()
    turns: list[Turn] = []
    engine = Engine(session_for(modalities=["text"]), connect=lambda: transport,
                    playback=None, on_turn=turns.append)
    with engine:
        transport.push("input_audio_buffer.speech_started", item_id="item_1",
                       audio_start_ms=1000)
        transport.push("input_audio_buffer.speech_stopped", item_id="item_1",
                       audio_end_ms=2500)
        transport.push("input_audio_buffer.committed", item_id="item_1")
        transport.push("response.created", response={"id": "resp_1"})
        transport.push("response.text.delta", response_id="resp_1", delta="Paris.")
        transport.push("response.done", response={"id": "resp_1", "status": "completed",
                                                  "usage": {"output_tokens": 2}})
        wait_for(engine, lambda u: isinstance(u, up.UsageReported))
    assert [(t.role, t.text) for t in turns] == [("user", ""), ("assistant", "Paris.")]
    assert turns[0].item_id == "item_1"
