"""The emulator calls functions: the real capture replayed, the naming rule, scripted calls,
answers from the outputs, and usage counts close to the real service's."""

from __future__ import annotations

import json
from pathlib import Path

from fixtures_emulator import RawClient

from omnichat.emulator.usage import TEMPLATE_TOKENS

CAPTURE = (Path(__file__).parent / "data" / "real-traffic"
           / "omugw_qwen3.5-omni-flash-realtime_text_tools.jsonl")
MODEL = "qwen3.5-omni-flash-realtime"
WEATHER = {"type": "function", "function": {
    "name": "get_weather", "description": "The weather in a city.",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}


def _user(text: str) -> dict:
    return {"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}


def _capture() -> list[dict]:
    lines = [json.loads(line) for line in CAPTURE.read_text(encoding="utf-8").splitlines()]
    return [line for line in lines if "event" in line]


def _segments(frames: list[dict]) -> list[tuple[dict, list[str]]]:
    """(client event, the server event types that followed it) for each client event."""
    segments: list[tuple[dict, list[str]]] = []
    for frame in frames:
        if frame["dir"] == "send":
            segments.append((frame["event"], []))
        elif segments:
            segments[-1][1].append(frame["event"]["type"])
    return segments


def _collapsed(types: list[str]) -> list[str]:
    """Runs of one delta type count once (the reply texts differ in length)."""
    out: list[str] = []
    for name in types:
        if not (out and out[-1] == name and name.endswith(".delta")):
            out.append(name)
    return out


def _shapes(events: list[dict]) -> list[tuple[str, list[str], list[str]]]:
    """(type, keys, item keys) of the function-call events, in order."""
    return [(e["type"], list(e), list(e.get("item") or {})) for e in events
            if "function_call" in e["type"] or (e.get("item") or {}).get("type")
            in ("function_call", "function_call_output")]


def _replay(emu, events: list[dict] | None = None) -> tuple[list[str], list[str], list[dict]]:
    """Send the capture's client frames (call ids mapped to the emulator's) and collect
    the server's answers; (expected types, got types, every response.done)."""
    client = RawClient(emu, model=MODEL)
    call_ids: list[str] = []
    expected: list[str] = []
    got: list[str] = []
    done: list[dict] = []
    real_ids = iter(e["event"]["item"]["call_id"] for e in _capture()
                    if e["event"].get("type") == "conversation.item.create"
                    and e["event"]["item"].get("type") == "function_call_output")
    mapping: dict[str, str] = {}
    try:
        for event, types in _segments(_capture()):
            item = event.get("item") or {}
            if item.get("type") == "function_call_output":
                mapping.setdefault(next(real_ids), call_ids[len(mapping)])
                event = {**event, "item": {**item, "call_id": mapping[item["call_id"]]}}
            client.ws.send(json.dumps(event))
            expected += types
            if not types:
                continue
            for received in client.until(types[-1]):
                got.append(received["type"])
                if events is not None:
                    events.append(received)
                if received["type"] == "response.function_call_arguments.done":
                    call_ids.append(received["call_id"])
                if received["type"] == "response.done":
                    done.append(received["response"])
    finally:
        client.close()
    return expected, got, done


def test_replaying_the_real_capture_gives_the_same_events_in_the_same_order(emulator):
    events: list[dict] = []
    expected, got, done = _replay(emulator, events)
    assert _collapsed(got) == _collapsed(expected)
    real = [f["event"] for f in _capture() if f["dir"] == "receive"]
    assert _shapes(events) == _shapes(real)  # the same fields, in the same order
    calls = done[1]["output"]
    assert [c["type"] for c in calls] == ["function_call", "function_call"]
    assert [c["name"] for c in calls] == ["test_color", "test_shape"]
    assert all(c["status"] == "completed" and c["arguments"] == "{}" for c in calls)
    # The answer uses both outputs the client sent.
    assert done[2]["output"][0]["content"][0]["text"] == "The tools said: 蓝色; 方块."


def test_usage_counts_instructions_tools_and_items_like_the_real_service(emulator):
    real = [f["event"]["response"]["usage"]["input_tokens_details"]["text_tokens"]
            for f in _capture() if f["event"].get("type") == "response.done"]
    _, _, done = _replay(emulator)
    ours = [d["usage"]["input_tokens_details"]["text_tokens"] for d in done]
    assert real == [341, 380, 444]
    assert all(abs(a - b) <= 0.05 * b for a, b in zip(ours, real, strict=True)), ours
    assert ours[0] < ours[1] < ours[2]  # the context grows turn by turn


def test_the_argument_delta_carries_obfuscation(emulator):
    client = RawClient(emulator)
    try:
        client.send("session.update", session={"modalities": ["text"], "tools": [WEATHER]})
        client.until("session.updated")
        client.send("conversation.item.create", item=_user('call get_weather {"city": "Paris"}'))
        client.send("response.create")
        events = client.until("response.done")
    finally:
        client.close()
    delta = next(e for e in events if e["type"] == "response.function_call_arguments.delta")
    assert delta["delta"] == '{"city": "Paris"}' and delta["obfuscation"].isalnum()
    assert events[-1]["response"]["output"][0]["arguments"] == '{"city": "Paris"}'


def test_without_tools_a_tool_name_is_just_text(emulator):
    client = RawClient(emulator)
    try:
        client.send("session.update", session={"modalities": ["text"]})
        client.until("session.updated")
        client.send("conversation.item.create", item={"type": "message", "role": "user",
                    "content": [{"type": "input_text", "text": "call get_weather {}"}]})
        client.send("response.create")
        events = client.until("response.done")
    finally:
        client.close()
    assert events[-1]["response"]["output"][0]["type"] == "message"
    assert not any("function_call" in e["type"] for e in events)


def test_a_reply_script_line_scripts_the_call_and_the_answer_quotes_the_output(make_emulator):
    emu = make_emulator(replies=['call get_weather {"city":"Paris"}', "Bye."])
    client = RawClient(emu)
    try:
        client.send("session.update", session={"modalities": ["text"], "tools": [WEATHER]})
        client.until("session.updated")
        client.send("conversation.item.create", item={"type": "message", "role": "user",
                    "content": [{"type": "input_text", "text": "How is the weather?"}]})
        client.send("response.create")
        call = client.until("response.done")[-1]["response"]["output"][0]
        assert (call["name"], call["arguments"]) == ("get_weather", '{"city":"Paris"}')
        client.send("conversation.item.create", item={
            "type": "function_call_output", "call_id": call["call_id"], "output": "sunny, 21 C"})
        client.send("response.create")
        answer = client.until("response.done")[-1]["response"]["output"][0]
        client.send("conversation.item.create", item={"type": "message", "role": "user",
                    "content": [{"type": "input_text", "text": "Thanks"}]})
        client.send("response.create")
        last = client.until("response.done")[-1]["response"]["output"][0]
    finally:
        client.close()
    assert answer["content"][0]["text"] == "The tool said: sunny, 21 C."
    assert last["content"][0]["text"] == "Bye."  # the answer used no script line


def test_an_audio_turn_reports_a_text_token_baseline(emulator):
    client = RawClient(emulator)
    try:
        client.send("session.update", session={"modalities": ["text"], "turn_detection": None})
        client.until("session.updated")
        client.append(bytes(16_000))  # 0.5 s of silence, committed by hand
        client.send("input_audio_buffer.commit")
        client.send("response.create")
        usage = client.until("response.done")[-1]["response"]["usage"]
    finally:
        client.close()
    assert usage["input_tokens_details"]["text_tokens"] >= TEMPLATE_TOKENS
    assert usage["input_tokens_details"]["audio_tokens"] > 0
