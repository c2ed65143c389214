"""Collecting streamed function calls (replaying the real qwen3.5 capture) and answering them."""

from __future__ import annotations

import json
from pathlib import Path

from omnichat.protocol.events import from_dict
from omnichat.tools.calls import MAX_ARGUMENTS_CHARS, CallCollector, answer_events

CAPTURE = Path(__file__).parent / "data" / "real-traffic" / \
    "omugw_qwen3.5-omni-flash-realtime_text_tools.jsonl"


def _frames(direction: str) -> list[dict]:
    rows = [json.loads(line) for line in CAPTURE.read_text(encoding="utf-8").splitlines()]
    return [row["event"] for row in rows if row.get("dir") == direction and "event" in row]


def _replay(events) -> list[list]:
    """Feed every event; return the non-empty call lists, in order."""
    collector = CallCollector()
    batches = [collector.feed(from_dict(event)) for event in events]
    return [batch for batch in batches if batch]


def test_the_real_capture_yields_its_two_parallel_calls_once_at_response_done():
    batches = _replay(_frames("receive"))
    assert len(batches) == 1
    calls = batches[0]
    assert [(c.name, c.call_id, c.arguments) for c in calls] == [
        ("test_color", "call_0a9e03efe5564d8f8ca954fc", "{}"),
        ("test_shape", "call_0594ae59c3a4421aa7871d64", "{}"),
    ]
    assert {c.response_id for c in calls} == {"resp_W6oAec8azwWhEe5PzRNmN"}
    assert [c.output_index for c in calls] == [0, 1]


def test_answers_match_what_the_real_client_sent():
    sent = [e for e in _frames("send") if e["type"] in ("conversation.item.create",
                                                        "response.create")][-3:]
    calls = _replay(_frames("receive"))[0]
    outputs = {"test_color": "蓝色", "test_shape": "方块"}
    answers = [e.to_dict() for e in answer_events((c.call_id, outputs[c.name]) for c in calls)]
    for event in sent:
        event.pop("event_id")
    assert answers == sent


def _call_events(response_id="resp_1", call_id="call_1", deltas=('{"a"', ': 1}'), done=None,
                 status="completed"):
    item = {"id": "item_1", "type": "function_call", "status": "in_progress",
            "call_id": call_id, "name": "add", "arguments": ""}
    events = [{"type": "response.output_item.added", "response_id": response_id,
               "output_index": 0, "item": item}]
    events += [{"type": "response.function_call_arguments.delta", "response_id": response_id,
                "item_id": "item_1", "output_index": 0, "call_id": call_id, "delta": d,
                "obfuscation": "XyZ"} for d in deltas]
    if done is not None:
        events.append({"type": "response.function_call_arguments.done", "name": "add",
                       "response_id": response_id, "item_id": "item_1", "output_index": 0,
                       "call_id": call_id, "arguments": done})
    events.append({"type": "response.done", "response": {"id": response_id, "status": status,
                                                         "output": []}})
    return events


def test_arguments_streamed_only_as_deltas_are_joined_without_the_obfuscation_padding():
    [calls] = _replay(_call_events())
    assert calls[0].arguments == '{"a": 1}'


def test_the_done_event_is_authoritative_over_the_deltas():
    [calls] = _replay(_call_events(deltas=('{"a": 9',), done='{"a": 2}'))
    assert calls[0].arguments == '{"a": 2}'


def test_a_cancelled_response_yields_no_calls():
    assert _replay(_call_events(status="cancelled")) == []


def test_a_discarded_response_yields_no_calls():
    collector = CallCollector()
    events = [from_dict(e) for e in _call_events()]
    for event in events[:-1]:
        collector.feed(event)
    collector.discard("resp_1")
    assert collector.feed(events[-1]) == []


def test_calls_known_only_from_response_done_are_still_answered():
    done = {"type": "response.done", "response": {"id": "r", "status": "completed", "output": [
        {"type": "message", "id": "m"},
        {"type": "function_call", "id": "i", "call_id": "c", "name": "n", "arguments": "{}",
         "status": "completed"}]}}
    [calls] = _replay([done])
    assert (calls[0].call_id, calls[0].name, calls[0].arguments) == ("c", "n", "{}")


def test_endless_argument_deltas_are_capped():
    [calls] = _replay(_call_events(deltas=["x" * 100_000] * 5))
    assert len(calls[0].arguments) == MAX_ARGUMENTS_CHARS


def test_no_calls_means_no_answer_events():
    assert answer_events([]) == []
