"""The conversation engine against the real emulator over a real socket."""

from __future__ import annotations

import numpy as np
import pytest
from test_engine_support import (
    finished,
    make_engine,
    session_for,
    speak,
    wait_for,
    wait_until,
    write_wav,
)

from omnichat.audio.playback import PlaybackBuffer
from omnichat.audio.speaker import FileSpeaker
from omnichat.engine import updates as up
from omnichat.engine.turns import Turn, cut_index, split_heard
from omnichat.transport import WebSocketTransport

LONG_REPLY = ("Once upon a time there was a very patient robot who liked to explain every "
              "small detail of the weather, the tides and the stars to anyone who listened")
PACKET_SAMPLES = 4800  # the emulator's 200 ms packets at 24 kHz


# ---- pure parts ------------------------------------------------------------------------------


def test_cut_index_maps_the_heard_fraction_onto_words():
    text = "one two three four"
    assert cut_index(text, 1.0) == len(text)
    assert cut_index(text, 0.0) == 0
    assert split_heard(text, 0.5) == ("one two", "three four")  # 9 chars -> back to a space
    assert split_heard(text, 0.3) == ("one", "two three four")


def test_turn_record_has_heard_and_unheard_only_when_interrupted():
    plain = Turn("assistant", "hi", response_id="r1", latency_ms=12.34).to_record()
    assert plain["interrupted"] is False and "heard" not in plain and plain["latency_ms"] == 12.3
    cut = Turn("assistant", "a b", interrupted=True, heard="a", unheard="b").to_record()
    assert (cut["heard"], cut["unheard"]) == ("a", "b")
    assert "interrupted" not in Turn("user", "hello").to_record()


# ---- one turn ------------------------------------------------------------------------------


def test_a_spoken_turn_gets_a_reply_played_and_recorded(emulator, speech_pcm, tmp_path):
    turns: list[Turn] = []
    playback = PlaybackBuffer()
    speaker = FileSpeaker(playback, tmp_path / "out.wav", pace=0)
    speaker.start()
    engine = make_engine(emulator, playback=playback, on_turn=turns.append)
    try:
        engine.start()
        speak(engine, speech_pcm("What time is it?"))
        seen: list = []
        wait_for(engine, finished("assistant"), seen=seen)
        wait_until(engine, engine.is_idle, seen=seen)
    finally:
        engine.close()
        speaker.close()
    roles = [t.role for t in turns]
    assert "user" in roles and "assistant" in roles
    reply = next(t for t in turns if t.role == "assistant")
    assert reply.text and not reply.interrupted and reply.usage["output_tokens"] > 0
    assert reply.latency_ms is not None and reply.latency_ms >= 0
    assert playback.played_samples == playback.written_samples > 0
    assert any(isinstance(u, up.StatusChanged) and u.status == up.SPEAKING for u in seen)
    session = emulator.session
    assert session.received_types[0] == "session.update"
    appends = [e for e in session.received if e.type == "input_audio_buffer.append"]
    assert all(len(e.pcm) <= 3200 for e in appends)  # <= 100 ms per event


def test_text_only_streams_text_and_no_audio(emulator, speech_pcm):
    turns: list[Turn] = []
    engine = make_engine(emulator, playback=None, on_turn=turns.append, modalities=["text"])
    seen: list = []
    with engine:
        speak(engine, speech_pcm("Tell me something."))
        wait_for(engine, finished("assistant"), seen=seen)
    deltas = [u for u in seen if isinstance(u, up.AssistantDelta)]
    reply = next(t for t in turns if t.role == "assistant")
    assert len(deltas) > 1 and "".join(d.text for d in deltas) == reply.text
    sent = emulator.session.sent_types
    assert "response.text.delta" in sent and "response.audio.delta" not in sent


def test_latency_counts_from_the_end_of_speech_not_from_speech_stopped(emulator, speech_pcm,
                                                                       tmp_path):
    """What the user waits through includes the VAD's silence wait before speech_stopped:
    against the instant emulator that wait is nearly all of it (not the ~20 ms of overhead)."""
    from omnichat.audio.microphone import WavMicrophone

    turns: list[Turn] = []
    engine = make_engine(emulator, playback=None, on_turn=turns.append, modalities=["text"])
    question = write_wav(tmp_path / "q.wav", speech_pcm("Hello there."))
    with engine, WavMicrophone(question, engine.feed_mic, pace=1.0):  # a real-time talker
        wait_for(engine, finished("assistant"))
    reply = next(t for t in turns if t.role == "assistant")
    silence_ms = session_for()["turn_detection"]["silence_duration_ms"]
    assert silence_ms - 100 <= reply.latency_ms <= silence_ms + 600, reply.latency_ms


# ---- barge-in --------------------------------------------------------------------------------


class _RecordingBuffer(PlaybackBuffer):
    """Logs every write with the response the engine is on, and every flush, in order."""

    engine = None

    def __init__(self):
        super().__init__()
        self.log: list[tuple[str, str | None]] = []

    def write(self, pcm):
        # write() runs inside the engine's state step: the state names the reply it is on.
        reply_id = self.engine.state.current_response_id if self.engine is not None else None
        self.log.append(("write", reply_id))
        super().write(pcm)

    def flush(self, fade_ms=10.0):
        self.log.append(("flush", None))
        return super().flush(fade_ms)


def test_barge_in_flushes_cancels_and_drops_stale_deltas(make_emulator, speech_pcm):
    """The server keeps streaming (interrupt_response off) until our cancel: every delta of
    the cut reply that arrives after the flush must be dropped, and the cancel sent."""
    emu = make_emulator(speed="fast", replies=[LONG_REPLY, "Sure."])
    emu.hold_responses(after_packets=3)

    class GateTransport(WebSocketTransport):
        def send(self, event):
            if event.type == "response.cancel":  # let the rest of the reply race our cancel
                emu.release_responses()
                emu.session.wait_for("response.done", timeout=10)
            super().send(event)

    turns: list[Turn] = []
    playback = _RecordingBuffer()
    engine = make_engine(emu, playback=playback, on_turn=turns.append,
                         transport_cls=GateTransport, turn_detection={"interrupt_response": False})
    playback.engine = engine
    seen: list = []
    with engine:
        speak(engine, speech_pcm("Tell me a story."))
        wait_until(engine, lambda: playback.written_samples >= 3 * PACKET_SAMPLES, seen=seen)
        playback.read_into(np.zeros(int(1.5 * PACKET_SAMPLES), dtype=np.int16))  # 300 ms heard
        speak(engine, speech_pcm("Stop, that is enough."))
        cut = wait_for(engine, lambda u: isinstance(u, up.Interrupted), seen=seen)
        emu.session.wait_for("response.cancel", direction="received", timeout=10)
        engine.send_text("Go on.")  # its reply comes after every stale frame on the socket
        wait_for(engine, lambda u: isinstance(u, up.UsageReported)
                 and u.response_id != cut.response_id, seen=seen)
    assert cut.flushed_ms == pytest.approx(300.0, abs=25.0)
    cancelled = cut.response_id
    after_flush = playback.log[playback.log.index(("flush", None)) + 1:]
    assert ("write", cancelled) not in after_flush
    assert engine.dropped_deltas > 0  # the stale deltas did arrive, and went nowhere
    assert not [u for u in seen if isinstance(u, up.Notice)]  # "none active response" is quiet
    first = next(t for t in turns if t.role == "assistant")
    assert first.interrupted and first.status == "cancelled"
    assert first.heard and first.unheard
    assert LONG_REPLY.startswith(first.heard)
    assert first.text.startswith(first.heard) and first.text.endswith(first.unheard)


def test_barge_in_with_server_interrupt_marks_what_was_heard(make_emulator, speech_pcm, tmp_path):
    """The default session: the server cuts its reply itself; the client still flushes,
    cancels once, and the transcript splits heard from unheard."""
    emu = make_emulator(speed=4.0, replies=[LONG_REPLY])
    turns: list[Turn] = []
    playback = _RecordingBuffer()
    engine = make_engine(emu, playback=playback, on_turn=turns.append)
    playback.engine = engine
    with engine:
        speak(engine, speech_pcm("Tell me a story."))
        wait_until(engine, lambda: playback.written_samples >= 10 * PACKET_SAMPLES)
        playback.read_into(np.zeros(5 * PACKET_SAMPLES, dtype=np.int16))
        speak(engine, speech_pcm("Wait."))
        cut = wait_for(engine, lambda u: isinstance(u, up.Interrupted))
        emu.session.wait_for("response.cancel", direction="received", timeout=10)
    after_flush = playback.log[playback.log.index(("flush", None)) + 1:]
    assert ("write", cut.response_id) not in after_flush
    reply = next(t for t in turns if t.role == "assistant")
    assert reply.interrupted and reply.heard and reply.unheard
    assert len(reply.heard) < len(reply.text)


def test_a_blocked_cancel_does_not_freeze_the_main_thread(make_emulator, speech_pcm):
    """The receiver sends response.cancel after releasing the engine lock: a socket write
    that blocks (a full send buffer) must not stall poll() and with it the screen."""
    import threading
    import time

    emu = make_emulator(replies=[LONG_REPLY])
    emu.hold_responses(after_packets=3)
    sending, release = threading.Event(), threading.Event()

    class SlowCancel(WebSocketTransport):
        def send(self, event):
            if event.type == "response.cancel":
                sending.set()
                release.wait(5)
            super().send(event)

    playback = PlaybackBuffer()
    engine = make_engine(emu, playback=playback, transport_cls=SlowCancel,
                         turn_detection={"interrupt_response": False})
    with engine:
        try:
            speak(engine, speech_pcm("Tell me a story."))
            wait_until(engine, lambda: playback.written_samples >= 3 * PACKET_SAMPLES)
            speak(engine, speech_pcm("Stop."))
            assert sending.wait(15)
            started = time.monotonic()
            engine.poll(0)
            assert time.monotonic() - started < 1.0
            assert playback.queued_samples == 0  # the flush did not wait for the send
        finally:
            release.set()
            emu.release_responses()


# ---- close -----------------------------------------------------------------------------------


def test_close_mid_reply_joins_threads_and_closes_with_1000(emulator, speech_pcm):
    emulator.hold_responses(after_packets=2)
    turns: list[Turn] = []
    engine = make_engine(emulator, playback=PlaybackBuffer(), on_turn=turns.append)
    engine.start()
    try:
        speak(engine, speech_pcm("Hello there."))
        wait_for(engine, lambda u: isinstance(u, up.AssistantDelta))
    finally:
        engine.close()
        emulator.release_responses()
    engine.close()  # idempotent
    session = emulator.session
    assert session.wait_closed(5.0)
    assert session.connection.close_code == 1000
    reply = [t for t in turns if t.role == "assistant"]
    assert reply and reply[0].interrupted  # still playing when the user left: not all heard


def test_a_dropped_connection_fails_the_engine_with_connection_lost(make_emulator, speech_pcm):
    from omnichat.errors import ConnectionLost

    emu = make_emulator()
    emu.faults.close_mid_response(code=1011, reason="internal error")
    engine = make_engine(emu, playback=PlaybackBuffer())
    engine.start()
    try:
        speak(engine, speech_pcm("Hello there."))
        with pytest.raises(ConnectionLost, match="1011"):
            wait_for(engine, lambda u: False)
    finally:
        with pytest.raises(ConnectionLost):
            engine.close()  # the kept failure is re-raised after the threads are joined


def test_a_server_that_stalls_mid_reply_fails_the_engine_and_keeps_the_turns(
        make_emulator, speech_pcm):
    """A hung service must not leave the user looking at "speaking" forever."""
    from omnichat.errors import ConnectionLost

    emu = make_emulator(replies=[LONG_REPLY])
    emu.hold_responses(after_packets=2)  # the reply starts, then nothing more arrives
    turns: list[Turn] = []
    engine = make_engine(emu, playback=PlaybackBuffer(), on_turn=turns.append,
                         engine_options={"stall_timeout_s": 0.5})
    engine.start()
    try:
        speak(engine, speech_pcm("Hello there."))
        wait_for(engine, lambda u: isinstance(u, up.AssistantDelta))
        with pytest.raises(ConnectionLost, match="stopped answering"):
            wait_for(engine, lambda u: False, timeout_s=10)
    finally:
        with pytest.raises(ConnectionLost):
            engine.close()
        emu.release_responses()
    assert [t.role for t in turns] == ["user", "assistant"]
    assert turns[1].interrupted and turns[1].text  # the part that did arrive is kept


def test_reconnect_replaces_the_socket_and_replays_the_session(make_emulator, speech_pcm):
    emu = make_emulator()
    turns: list[Turn] = []
    engine = make_engine(emu, playback=None, on_turn=turns.append, modalities=["text"],
                         instructions="Answer briefly.")
    with engine:
        speak(engine, speech_pcm("First question."))
        wait_for(engine, finished("assistant"))
        engine.reconnect()
        speak(engine, speech_pcm("Second question."))
        wait_for(engine, finished("assistant"))
    first, second = emu.wait_for_session(index=0), emu.wait_for_session(index=1)
    assert first.wait_closed(5.0) and first.connection.close_code == 1000
    replayed = next(e for e in second.received if e.type == "session.update").session
    assert replayed["instructions"] == "Answer briefly." and replayed["modalities"] == ["text"]
    assert [t.role for t in turns].count("assistant") == 2
    assert len(engine.conversation.history()) == len(turns)


def test_a_turn_that_gets_no_reply_is_reported_not_silently_dropped(emulator, speech_pcm):
    engine = make_engine(emulator, playback=None, modalities=["text"],
                         turn_detection={"create_response": False},
                         engine_options={"await_response_s": 0.3})
    seen: list = []
    with engine:
        speak(engine, speech_pcm("Hello?"))
        notice = wait_for(engine, lambda u: isinstance(u, up.Notice), seen=seen)
    assert notice.text.startswith("no reply 0 s after you stopped speaking")
    assert "response.created" not in emulator.session.sent_types


def test_an_interrupt_key_from_another_thread_cancels_over_the_socket(emulator, speech_pcm):
    """A command from a thread that is not the receiver (a key) reaches the socket: the
    playback is flushed at once and the cancel goes out ahead of queued audio."""
    import threading

    from omnichat.engine import commands as cmd

    emulator.hold_responses(after_packets=3)
    turns: list[Turn] = []
    playback = PlaybackBuffer()
    engine = make_engine(emulator, playback=playback, on_turn=turns.append)
    with engine:
        try:
            speak(engine, speech_pcm("Tell me a story."))
            wait_until(engine, lambda: playback.written_samples >= 3 * PACKET_SAMPLES)
            key = threading.Thread(target=engine.command, args=(cmd.Interrupt(),),
                                   name="keyboard")
            key.start()
            key.join(5)
            cut = wait_for(engine, lambda u: isinstance(u, up.Interrupted))
            emulator.session.wait_for("response.cancel", direction="received", timeout=10)
            assert playback.queued_samples == 0
        finally:
            emulator.release_responses()
    reply = next(t for t in turns if t.role == "assistant")
    assert reply.response_id == cut.response_id and reply.interrupted
    assert reply.status == "cancelled"


def test_a_cut_replys_usage_from_its_cancelled_response_done_is_counted(make_emulator,
                                                                          speech_pcm):
    """The service ends a cancelled response with ``response.done`` (status cancelled) and
    its usage: the view's token count includes it; until then the count is a lower bound."""
    from omnichat.engine import commands as cmd
    from omnichat.ui.render import status_text
    from omnichat.ui.state import ViewState

    emu = make_emulator(cancel_response_done="cancelled", replies=[LONG_REPLY])
    emu.hold_responses(after_packets=3)
    playback = PlaybackBuffer()
    engine = make_engine(emu, playback=playback)
    view = ViewState()
    seen: list = []
    with engine:
        try:
            speak(engine, speech_pcm("Tell me a story."))
            wait_until(engine, lambda: playback.written_samples >= 3 * PACKET_SAMPLES,
                       seen=seen)
            engine.command(cmd.Interrupt())
            cut = wait_for(engine, lambda u: isinstance(u, up.TurnFinished)
                           and u.turn.role == "assistant", seen=seen)
        finally:
            emu.release_responses()
        view.apply(up.TurnFinished(Turn("assistant", "Hi.", response_id="r0",
                                        usage={"input_tokens": 40, "output_tokens": 9})))
        for update in seen:
            view.apply(update)
        assert "tokens ≥40 in / ≥9 out" in status_text(view)  # the cut reply's cost unknown
        usage = wait_for(engine, lambda u: isinstance(u, up.UsageReported), seen=seen)
    assert usage.response_id == cut.turn.response_id
    assert usage.usage["output_tokens"] > 0
    view.apply(usage)
    assert view.tokens_out == 9 + usage.usage["output_tokens"]
    assert "≥" not in status_text(view)
