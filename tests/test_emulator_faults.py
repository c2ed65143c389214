"""Handshake rules, limits with compressed time, every fault, hostile clients, trace, CLI."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import websocket
from fixtures_emulator import RawClient

from omnichat.emulator import Emulator
from omnichat.errors import UsageError

TONE_1S = (np.sin(np.arange(16_000) * 0.2) * 12_000).astype("<i2").tobytes()  # speech to a VAD


def close_code(client: RawClient) -> int:
    """Read until the server's close frame; return its code."""
    while True:
        opcode, data = client.ws.recv_data(control_frame=True)
        if opcode == websocket.ABNF.OPCODE_CLOSE:
            return int.from_bytes(data[:2], "big")


def handshake_status(url: str, header=()) -> int:
    with pytest.raises(websocket.WebSocketBadStatusException) as info:
        websocket.create_connection(url, timeout=5, header=list(header))
    return info.value.status_code


# --- handshake ----------------------------------------------------------------------------------


def test_key_is_checked_with_a_case_insensitive_scheme(make_emulator):
    emu = make_emulator(api_key="sk-right")
    url = f"{emu.url}?model=qwen3.5-omni-flash-realtime"
    assert handshake_status(url) == 401
    assert handshake_status(url, ["Authorization: Bearer sk-wrong"]) == 401
    ws = websocket.create_connection(url, timeout=5, header=["Authorization: bearer sk-right"])
    assert json.loads(ws.recv())["type"] == "session.created"
    ws.close()
    assert "sk-right" not in repr(emu)


def test_unknown_and_missing_model(emulator):
    assert handshake_status(f"{emulator.url}?model=qwen-omni-turbo-realtime-2025-03-26") == 404
    assert handshake_status(emulator.url) == 400
    assert handshake_status(emulator.url.replace("/realtime", "/other") + "?model=x") == 404


def test_non_loopback_host_needs_allow_remote():
    with pytest.raises(UsageError, match="allow-remote"):
        Emulator(host="0.0.0.0")


# --- limits -------------------------------------------------------------------------------------


def test_idle_close_after_no_response(make_emulator, emulator_client):
    client = emulator_client(make_emulator(idle_timeout_s=0.3))
    error = client.until("error")[-1]["error"]
    assert error["message"] == ("Your session was closed because no response was generated "
                                "for 0.3 seconds.")
    assert error["code"] == "response_idle_timeout"
    assert close_code(client) == 1007


def test_a_response_resets_the_idle_timer(make_emulator, emulator_client):
    emu = make_emulator(idle_timeout_s=0.5)
    client = emulator_client(emu)
    client.send("session.update", session={"turn_detection": None, "modalities": ["text"]})
    started = time.monotonic()
    client.send("response.create")
    client.until("response.done")
    client.until("error")
    assert close_code(client) == 1007
    assert time.monotonic() - started >= 0.5


def test_session_cap(make_emulator, emulator_client):
    client = emulator_client(make_emulator(max_session_s=0.3))
    error = client.until("error")[-1]["error"]
    assert error["code"] == "session_expired" and "maximum duration" in error["message"]
    assert close_code(client) == 1008


# --- faults -------------------------------------------------------------------------------------


def test_close_after_events_armed_before_the_session(emulator, emulator_client):
    emulator.faults.close_after_events(2, code=1011)
    client = emulator_client(emulator)  # session.created is event 1
    client.send("session.update", session={})
    assert client.recv()["type"] == "session.updated"  # event 2, then the close
    assert close_code(client) == 1011
    assert emulator.wait_for_connection().close_code == 1011


def test_close_mid_response(emulator, emulator_client):
    client = emulator_client(emulator)
    emulator.faults.close_mid_response(code=1011)
    client.send("response.create")
    types = []
    while True:
        opcode, data = client.ws.recv_data(control_frame=True)
        if opcode == websocket.ABNF.OPCODE_CLOSE:
            break
        types.append(json.loads(data)["type"])
    assert int.from_bytes(data[:2], "big") == 1011
    assert types[-1] == "response.audio.delta" and "response.done" not in types
    session = emulator.wait_for_connection()
    session.wait_closed()
    assert session.close_code == 1011
    assert session.sent_types[-1] == "response.audio.delta"
    assert "response.done" not in session.sent_types


def test_stall_delays_the_next_event(emulator, emulator_client):
    client = emulator_client(emulator)
    emulator.faults.stall(0.4)
    started = time.monotonic()
    client.send("session.update", session={})
    client.until("session.updated")
    assert time.monotonic() - started >= 0.4


def test_malformed_unknown_and_error_frames(emulator, emulator_client):
    client = emulator_client(emulator)
    emulator.wait_for_connection()
    emulator.faults.send_malformed()
    with pytest.raises(json.JSONDecodeError):
        client.recv()
    emulator.faults.send_unknown_event("response.future_thing")
    assert client.recv()["type"] == "response.future_thing"
    emulator.faults.send_error("Internal service error: null")
    error = client.recv()["error"]
    assert error["message"] == "Internal service error: null" and error["type"] == "server_error"
    client.send("session.update", session={})  # the session is still usable
    assert client.until("session.updated")


def test_refuse_handshake_then_accept(emulator, emulator_client):
    emulator.faults.refuse_handshake(503, times=2)
    url = f"{emulator.url}?model=qwen3.5-omni-plus-realtime"
    assert handshake_status(url) == 503
    assert handshake_status(url) == 503
    assert emulator_client(emulator).created["type"] == "session.created"


@pytest.mark.parametrize("spec, kind, args", [
    ("close-after=3:1011", "close_after", {"n": 3, "code": 1011}),
    ("close-after=3", "close_after", {"n": 3, "code": 1011}),
    ("close-mid-response=4000", "close_mid_response", {"code": 4000}),
    ("stall=0.1@2", "stall", {"seconds": 0.1, "n": 2}),
    ("malformed", "malformed", {}),
    ("unknown-event", "unknown_event", {}),
    ("error=boom", "error", {"message": "boom"}),
])
def test_fault_specs_parse(spec, kind, args):
    emu = Emulator()
    emu.faults.apply_spec(spec)
    (fault,) = emu.faults.take_pending()
    assert fault.kind == kind
    assert {key: fault.args[key] for key in args} == args


def test_refuse_spec_parses_status_and_times():
    emu = Emulator()
    emu.faults.apply_spec("refuse=503x2")
    assert [emu.faults.take_refusal() for _ in range(3)] == [503, 503, None]


def test_bad_fault_spec_is_a_usage_error():
    with pytest.raises(UsageError, match="--fault"):
        Emulator().faults.apply_spec("explode=now")


# --- hostile clients ----------------------------------------------------------------------------


def test_garbage_binary_bad_base64_and_unknown_types_get_errors(emulator, emulator_client):
    client = emulator_client(emulator)
    client.ws.send("this is not json")
    assert client.recv()["error"]["code"] == "invalid_json"
    client.ws.send("[1, 2]")
    assert client.recv()["error"]["code"] == "invalid_json"
    client.ws.send_binary(b"\x00\x01\x02")
    assert client.recv()["error"]["code"] == "invalid_frame"
    client.send("input_audio_buffer.append", audio="***not base64***")
    assert "base64" in client.recv()["error"]["message"]
    client.send("conversation.item.truncate", item_id="x")
    assert client.recv()["error"]["code"] == "invalid_event"
    client.send("session.update", session={})
    assert client.until("session.updated")


def test_huge_frames_close_with_1009_and_the_server_lives_on(make_emulator, emulator_client):
    emu = make_emulator(max_frame_bytes=64 * 1024)
    client = emulator_client(emu)
    client.send("input_audio_buffer.append", audio="A" * 100_000)
    assert close_code(client) == 1009
    assert emulator_client(emu).created["type"] == "session.created"


def test_many_sessions_are_isolated(emulator, emulator_client):
    clients = [emulator_client(emulator) for _ in range(4)]
    for number, client in enumerate(clients):
        client.send("session.update", session={"turn_detection": None, "modalities": ["text"]})
        client.send("conversation.item.create", item={
            "type": "message", "role": "user",
            "content": [{"type": "input_text", "text": " ".join(["word"] * (number + 1))}]})
        client.send("response.create")
    for number, client in enumerate(clients):
        text = client.until("response.text.done")[-1]["text"]
        assert text == f"I read {number + 1} word{'s' * (number > 0)}."
    assert len({s.id for s in emulator.connections}) == 4


# --- trace and CLI ------------------------------------------------------------------------------


def test_trace_elides_payloads_and_never_writes_the_key(make_emulator, tmp_path):
    path = tmp_path / "trace.jsonl"
    emu = make_emulator(api_key="sk-secret-key", trace=path)
    client = RawClient(emu, key="sk-secret-key")
    client.send("session.update", session={"turn_detection": None})
    client.append(TONE_1S)
    client.send("input_audio_buffer.commit")
    client.send("response.create")
    client.until("response.done")
    client.close()
    emu.close()
    text = path.read_text()
    assert "sk-secret-key" not in text
    lines = [json.loads(line) for line in text.splitlines()]
    assert all(isinstance(line["t"], float) for line in lines)
    def of_type(name):
        return [line for line in lines if line.get("event", {}).get("type") == name]

    appends = of_type("input_audio_buffer.append")
    assert appends and appends[0]["event"]["audio"] == "<4268 base64 chars>"
    deltas = of_type("response.audio.delta")
    assert deltas and all(d["event"]["delta"].endswith("base64 chars>") for d in deltas)
    assert {line["dir"] for line in lines} == {"in", "out"}


def test_trace_masks_the_key_in_other_headers_the_query_and_echoed_text(make_emulator,
                                                                           tmp_path):
    path = tmp_path / "trace.jsonl"
    emu = make_emulator(api_key="sk-secret-key", trace=path)
    ws = websocket.create_connection(
        f"{emu.url}?model=qwen3.5-omni-plus-realtime&api_key=sk-query-secret", timeout=10,
        header=["Authorization: Bearer sk-secret-key", "X-DashScope-ApiKey: sk-header-secret"])
    assert json.loads(ws.recv())["type"] == "session.created"
    ws.send(json.dumps({"type": "session.update",
                        "session": {"instructions": "my key is sk-secret-key"}}))
    assert json.loads(ws.recv())["type"] == "session.updated"
    ws.close()
    emu.close()
    text = path.read_text()
    for secret in ("sk-secret-key", "sk-query-secret", "sk-header-secret"):
        assert secret not in text
    handshake = json.loads(text.splitlines()[0])
    assert handshake["path"].endswith("model=qwen3.5-omni-plus-realtime&api_key=<redacted>")
    assert "my key is <redacted>" in text


def test_serve_command_runs_until_interrupted(tmp_path):
    process = subprocess.Popen(
        [sys.executable, "-m", "omnichat", "serve", "--port", "0", "--speed", "fast"],
        stderr=subprocess.PIPE, text=True, env=os.environ | {"PYTHONUNBUFFERED": "1"})
    try:
        line = process.stderr.readline()
        assert "listening on ws://127.0.0.1:" in line
        url = line.split("listening on ")[1].split("?")[0]
        ws = websocket.create_connection(f"{url}?model=qwen3.5-omni-plus-realtime", timeout=5)
        assert json.loads(ws.recv())["type"] == "session.created"
        ws.close()
    finally:
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=15) == 130


@pytest.mark.parametrize("args, says", [
    (["--speed", "nan"], "--speed must be"),
    (["--speed", "inf"], "--speed must be"),
    (["--idle-timeout", "-1"], "--idle-timeout must be a positive number"),
    (["--max-session", "0"], "--max-session must be a positive number"),
    (["--cancel-response-done", "weird"], "--cancel-response-done must be one of cancelled"),
    (["--fault", "close-after=5:99999"], "use one of close-after=N[:CODE]"),
    (["--fault", "refuse=299"], "bad --fault value 'refuse=299'"),
    (["--fault", "stall=inf"], "bad --fault value 'stall=inf'"),
    (["--trace", "{tmp}/missing/trace.jsonl"], "cannot write the trace file"),
    (["--reply-script", "{tmp}/missing.txt"], "cannot read the reply script"),
    (["--transcription", "sometimes"], "--transcription: unknown transcription mode"),
    (["--send-timeout", "0"], "--send-timeout must be a positive number"),
])
def test_serve_rejects_bad_flags_in_one_line_before_listening(tmp_path, args, says):
    from typer.testing import CliRunner

    from omnichat.cli import app

    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    result = CliRunner().invoke(app, ["serve", "--port", "0", *args])
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("omnichat: error: ") and says in lines[0]
    assert "listening" not in result.output
    assert list(tmp_path.iterdir()) == []  # no trace file half-created
