"""When the input transcription arrives: the emulator's switches for the real service's
timings (defect 6 of issue 7): promptly, as ``.delta`` refreshes, after the reply started,
after it finished, or never. Asserted on the wire, in the order a client reads the events."""

from __future__ import annotations

import numpy as np
import pytest

from omnichat.emulator import TranscriptionMode

TONE_1S = (np.sin(np.arange(16_000) * 0.2) * 12_000).astype("<i2").tobytes()
COMPLETED = "conversation.item.input_audio_transcription.completed"
DELTA = "conversation.item.input_audio_transcription.delta"
FAILED = "conversation.item.input_audio_transcription.failed"
SAID = "what is the time in Lisbon"


def turn(make_emulator, emulator_client, mode, *, until="response.done"):
    client = emulator_client(make_emulator(transcription=mode, transcripts=[SAID, "again"]))
    client.send("session.update", session={"turn_detection": None})
    client.until("session.updated")
    client.append(TONE_1S)
    client.send("input_audio_buffer.commit")
    client.send("response.create")
    return client, [event["type"] for event in client.until(until)]


def test_prompt_sends_completed_right_after_the_item(make_emulator, emulator_client):
    _, types = turn(make_emulator, emulator_client, "prompt")
    created = types.index("conversation.item.created")
    assert types[created + 1] == COMPLETED and DELTA not in types
    assert types.index(COMPLETED) < types.index("response.created")


def test_deltas_refresh_a_growing_preview_before_completed(make_emulator, emulator_client):
    client = emulator_client(make_emulator(transcription=TranscriptionMode.DELTAS,
                                           transcripts=[SAID]))
    client.send("session.update", session={"turn_detection": None})
    client.append(TONE_1S)
    client.send("input_audio_buffer.commit")
    events = client.until(COMPLETED)
    deltas = [e for e in events if e["type"] == DELTA]
    previews = [d["text"] + d["stash"] for d in deltas]
    assert len(deltas) > 1 and previews[-1] == SAID == events[-1]["transcript"]
    assert all(len(a) < len(b) and b.startswith(a) for a, b in zip(previews, previews[1:],
                                                                      strict=False))
    assert all(set(d) >= {"item_id", "content_index", "text", "stash"} and "delta" not in d
               for d in deltas)
    assert len({d["item_id"] for d in deltas} | {events[-1]["item_id"]}) == 1


def test_after_reply_started_comes_between_the_first_delta_and_done(make_emulator,
                                                                   emulator_client):
    _, types = turn(make_emulator, emulator_client, "after-reply-started")
    first_delta = types.index("response.audio.delta")
    assert first_delta < types.index(COMPLETED) < types.index("response.done")


def test_after_reply_done_comes_after_response_done(make_emulator, emulator_client):
    _, types = turn(make_emulator, emulator_client, "after-reply-done", until=COMPLETED)
    assert types.index("response.done") < types.index(COMPLETED)


def test_failed_sends_failed_with_an_error_instead_of_completed(make_emulator, emulator_client):
    client = emulator_client(make_emulator(transcription="failed"))
    client.send("session.update", session={"turn_detection": None})
    client.append(TONE_1S)
    client.send("input_audio_buffer.commit")
    events = client.until(FAILED)
    item = next(e for e in events if e["type"] == "conversation.item.created")["item"]
    assert events[-1]["item_id"] == item["id"] and events[-1]["error"]["message"]
    assert set(events[-1]["error"]) == {"code", "message", "param"}
    assert COMPLETED not in [e["type"] for e in events]


def test_never_sends_no_transcription_event(make_emulator, emulator_client):
    client, types = turn(make_emulator, emulator_client, "never")
    client.append(TONE_1S)
    client.send("input_audio_buffer.commit")
    client.send("response.create")
    types += [event["type"] for event in client.until("response.done")]
    assert types.count("response.done") == 2
    assert not [t for t in types if t.startswith("conversation.item.input_audio_transcription")]


def test_an_unknown_mode_is_refused():
    from omnichat.emulator import Emulator

    with pytest.raises(ValueError, match="after-reply-done"):
        Emulator(transcription="sometimes")
