"""A push-to-talk recording from a file, split into turns on its pauses."""

from __future__ import annotations

import numpy as np

from omnichat.audio.utterances import split_utterances, why_not_sent

RATE = 16_000


def _tone(ms: int, level: float = 0.3) -> np.ndarray:
    t = np.arange(RATE * ms // 1000) / RATE
    return (level * 32767 * np.sin(2 * np.pi * 220 * t)).astype(np.int16)


def _silence(ms: int) -> np.ndarray:
    return np.zeros(RATE * ms // 1000, np.int16)


def test_two_utterances_with_a_pause_between_are_two_turns() -> None:
    pcm = np.concatenate([_silence(500), _tone(1200), _silence(1000), _tone(800), _silence(300)])
    turns = split_utterances(pcm, RATE)
    assert [(u.start_ms, u.end_ms) for u in turns] == [(300, 1900), (2500, 3700)]
    assert turns[0].pcm.size == RATE * 1600 // 1000


def test_a_short_pause_inside_a_sentence_does_not_split_it() -> None:
    pcm = np.concatenate([_tone(600), _silence(300), _tone(600)])
    assert len(split_utterances(pcm, RATE)) == 1


def test_clicks_and_silence_are_not_turns() -> None:
    pcm = np.concatenate([_silence(500), _tone(60), _silence(1000), _tone(100), _silence(500)])
    assert split_utterances(pcm, RATE) == []


def test_why_a_recording_is_not_sent() -> None:
    assert "too short" in (why_not_sent(_tone(150), RATE) or "")
    assert "nothing heard" in (why_not_sent(_silence(2000), RATE) or "")
    assert "nothing heard" in (why_not_sent(_tone(2000, level=0.001), RATE) or "")
    assert why_not_sent(_tone(1000), RATE) is None


def test_the_advice_matches_how_the_turn_was_taken_and_names_real_settings() -> None:
    """Press-to-start is not told to hold the key, and no threshold setting that does not
    exist is named."""
    toggle = why_not_sent(_tone(150), RATE, hold=False) or ""
    assert "press Space, speak, then press Space again" in toggle and "hold" not in toggle
    assert "hold Space for as long as you speak" in (why_not_sent(_tone(150), RATE, hold=True)
                                                     or "")
    silent = why_not_sent(_silence(2000), RATE, hold=False) or ""
    assert "threshold" not in silent and "ptt's" not in silent
    assert "--input-device" in silent and "level meter" in silent
