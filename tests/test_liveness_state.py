"""The pure parts of liveness (issue 16): when the state probes the link, which speech a
reconnect replays, and a reply that never stops talking. No socket, no clock."""

from __future__ import annotations

import base64

from state_harness import SPEAKER_HZ, Harness, pcm, ready, response, user_speaks

from omnichat.audio import MIC_RATE_HZ
from omnichat.engine import actions as act
from omnichat.engine import updates as up
from omnichat.engine.replay import BYTES_PER_S, SpeechReplay

STORY = "Once upon a time there was a very patient robot who explained the tides"


def _probes(h: Harness, at: float) -> list[float]:
    before = len(h.of(act.Probe))
    h.at(at).tick()
    return [p.timeout_s for p in h.of(act.Probe)[before:]]


def test_a_reply_that_pauses_is_probed_at_once_and_an_idle_link_every_few_seconds():
    h = Harness()
    ready(h)  # the last frame: at 0.0
    assert _probes(h, 3.9) == []
    assert _probes(h, 4.0) == [5.0]  # idle: every 4 s, answered within 5 s
    assert _probes(h, 7.9) == [] and _probes(h, 8.0) == [5.0]
    user_speaks(h, "item_1", 9.0, 10.0)  # speech_stopped at 10.8: a reply is due
    assert _probes(h, 11.2) == []
    assert _probes(h, 11.3) == [2.0]  # 0.5 s of silence while a reply is due
    assert _probes(h, 11.9) == [] and _probes(h, 12.15) == [2.0]  # every 0.8 s meanwhile
    h.at(12.2)
    response(h, "resp_1", text=STORY, audio_samples=SPEAKER_HZ, done=False)
    assert _probes(h, 12.6) == []  # deltas flow
    assert _probes(h, 12.8) == [2.0]  # the stream paused past a normal delta gap


def test_speech_without_an_answer_is_pinned_for_replay_until_the_answer_arrives():
    h = Harness()
    ready(h)
    assert h.state.unanswered_speech_ms is None
    user_speaks(h, "item_1", 1.0, 2.0)
    assert h.state.unanswered_speech_ms == 1000 and h.state.heard_audio_ms == 2000
    h.at(3.0).event("response.created", response={"id": "resp_1", "status": "in_progress"})
    assert h.state.unanswered_speech_ms == 1000  # created, nothing said yet
    h.event("response.audio.delta", response_id="resp_1",
            delta=base64.b64encode(pcm(2400)).decode())
    assert h.state.unanswered_speech_ms is None


def test_a_reply_an_order_of_magnitude_longer_than_its_text_is_ended_with_a_notice():
    """Found 7: a reply whose audio never ends was waited on forever."""
    h = Harness()
    ready(h)
    user_speaks(h, "item_1", 1.0, 2.0)
    h.at(3.0)
    response(h, "resp_1", text="Yes.", audio_samples=59 * SPEAKER_HZ, chunks=59, done=False)
    assert not h.of(act.Send)[1:]  # 59 s for "Yes.": under the 60 s floor, still going
    for _ in range(2):
        h.event("response.audio.delta", response_id="resp_1",
                delta=base64.b64encode(pcm(SPEAKER_HZ)).decode())
    assert [a.event.type for a in h.of(act.Send)] == ["response.cancel"]
    notices = [u.text for u in h.updates(up.Notice)]
    assert len(notices) == 1 and notices[0].startswith("ended a reply that kept talking: 61 s")
    h.event("response.audio.delta", response_id="resp_1",
            delta=base64.b64encode(pcm(SPEAKER_HZ)).decode())
    assert h.state.dropped_deltas == 1  # the rest is not played


def test_a_long_reply_with_a_long_text_is_left_alone_up_to_the_cap():
    h = Harness(max_reply_audio_s=120.0)
    ready(h)
    user_speaks(h, "item_1", 1.0, 2.0)
    h.at(3.0)
    text = "word " * 300  # 1500 characters: about 100 s of speech
    response(h, "resp_1", text=text, audio_samples=100 * SPEAKER_HZ, chunks=100, done=False)
    assert not [u for u in h.updates(up.Notice)]
    h.event("response.audio.delta", response_id="resp_1",
            delta=base64.b64encode(pcm(21 * SPEAKER_HZ)).decode())
    assert "limit 120 s" in h.updates(up.Notice)[0].text


def _block(ms: int, value: int = 7) -> bytes:
    return bytes([value]) * (MIC_RATE_HZ * 2 * ms // 1000)


def test_the_replay_keeps_what_followed_the_last_server_frame_and_what_was_said_meanwhile():
    replay = SpeechReplay(max_s=5.0)
    for n in range(10):  # 100 ms blocks written at t = 0.0 .. 0.9
        replay.sent(n / 10, n * 100, _block(100, n))
    replay.lost(heard_until=0.85, unanswered_ms=None, heard_ms=None)  # acked up to 0.35
    replay.hold_or(_block(100, 99), lambda: None)
    queued: list[bytes] = []
    result = replay.take(queued.append)
    assert result.lost_s == 0 and queued == [result.pcm]
    assert result.pcm == b"".join(_block(100, n) for n in (4, 5, 6, 7, 8, 9, 99))
    sent: list[bytes] = []
    replay.hold_or(_block(20), lambda: sent.append(b"x"))  # no longer holding: sent
    assert sent == [b"x"]


def test_the_replay_keeps_an_unanswered_question_even_after_later_frames():
    replay = SpeechReplay(max_s=5.0)
    for n in range(10):
        replay.sent(n / 10, n * 100, _block(100, n))
    replay.lost(heard_until=5.0, unanswered_ms=600, heard_ms=900)  # frames came later
    result = replay.take(lambda pcm: None)
    assert result.pcm == b"".join(_block(100, n) for n in (3, 4, 5, 6, 7, 8, 9))


def test_an_outage_longer_than_the_replay_bound_is_reported_not_sent():
    replay = SpeechReplay(max_s=1.0)
    replay.sent(0.0, 0, _block(100))
    replay.lost(heard_until=None, unanswered_ms=None)
    for _ in range(15):  # 1.5 s said into the outage
        replay.hold_or(_block(100), lambda: None)
    queued: list[bytes] = []
    result = replay.take(queued.append)
    assert queued == [] and result.pcm == b""
    assert abs(result.lost_s - 1.6) < 1e-9 and BYTES_PER_S == 32_000


def test_a_microphone_arrays_replay_counts_seconds_of_its_interleaved_frames():
    """Two channels are twice the bytes a second: the bound and the lost time are seconds of
    speech, not of mono bytes (it said 3.2 s lost for 1.6 s of stereo)."""
    replay = SpeechReplay(max_s=1.0, channels=2)
    stereo_100ms = _block(200)  # 100 ms of interleaved 2-channel frames
    replay.sent(0.0, 0, stereo_100ms)
    replay.lost(heard_until=None, unanswered_ms=None)
    for _ in range(15):  # 1.5 s said into the outage
        replay.hold_or(stereo_100ms, lambda: None)
    result = replay.take(lambda pcm: None)
    assert result.pcm == b"" and abs(result.lost_s - 1.6) < 1e-9
    short = SpeechReplay(max_s=1.0, channels=2)
    short.sent(0.0, 0, stereo_100ms)
    short.lost(heard_until=None, unanswered_ms=None)
    kept = short.take(lambda pcm: None)
    assert kept.pcm == stereo_100ms and abs(kept.seconds - 0.1) < 1e-9
