"""The official dashscope SDK (``OmniRealtimeConversation``), unchanged, against the emulator.

Only the URL and the key differ from the vendor guide's samples. The SDK runs its socket in
its own daemon thread and calls ``on_event`` there; events are handed to the test through a
queue, so the test waits with timeouts and never sleeps.
"""

from __future__ import annotations

import base64
import queue

import pytest

omni = pytest.importorskip("dashscope.audio.qwen_omni")

MODEL = "qwen3.5-omni-plus-realtime"
KEY = "sk-emulator-test"


class QueueCallback(omni.OmniRealtimeCallback):
    def __init__(self) -> None:
        self.events: queue.Queue = queue.Queue()
        self.closed: queue.Queue = queue.Queue()

    def on_event(self, response) -> None:
        self.events.put(response)

    def on_close(self, close_status_code, close_msg) -> None:
        self.closed.put(close_status_code)

    def until(self, type_name: str, timeout: float = 15.0) -> list[dict]:
        seen = []
        while True:
            event = self.events.get(timeout=timeout)
            seen.append(event)
            if event["type"] == type_name:
                return seen
            assert event["type"] != "error", event


@pytest.fixture
def conversation(make_emulator):
    emu = make_emulator(api_key=KEY)
    callback = QueueCallback()
    conv = omni.OmniRealtimeConversation(model=MODEL, callback=callback, url=emu.url,
                                         api_key=KEY)
    conv.connect()
    callback.until("session.created")
    try:
        yield conv, callback, emu
    finally:
        conv.close()
        # The SDK's on_close callback is not reliably called after close() (a race in
        # websocket-client's WebSocketApp); what matters is that the session ended.
        assert emu.wait_for_connection().wait_closed(timeout=10)


def stream(conv, pcm: bytes) -> None:
    for i in range(0, len(pcm), 3200):
        conv.append_audio(base64.b64encode(pcm[i:i + 3200]).decode("ascii"))


def test_sdk_vad_turn(conversation, speech_pcm):
    conv, callback, emu = conversation
    conv.update_session(output_modalities=[omni.MultiModality.AUDIO, omni.MultiModality.TEXT],
                        voice="Tina")
    updated = callback.until("session.updated")[-1]["session"]
    assert updated["turn_detection"]["threshold"] == 0.2  # the SDK's default, echoed
    stream(conv, bytes(16_000) + speech_pcm("What is the weather like today?") + bytes(64_000))
    events = callback.until("response.done")
    types = [e["type"] for e in events]
    assert types.index("input_audio_buffer.speech_started") < types.index("response.created")
    assert "response.audio.delta" in types
    assert conv.get_last_response_id() == events[-1]["response"]["id"]
    assert conv.get_session_id() == emu.wait_for_connection().id


def test_sdk_manual_turn_and_end_session(conversation, speech_pcm):
    conv, callback, emu = conversation
    conv.update_session(output_modalities=[omni.MultiModality.AUDIO, omni.MultiModality.TEXT],
                        voice="Ethan", enable_turn_detection=False)
    assert callback.until("session.updated")[-1]["session"]["turn_detection"] is None
    stream(conv, speech_pcm("Tell me a joke."))
    conv.commit()
    assert callback.until("input_audio_buffer.committed")
    conv.create_response()
    done = callback.until("response.done")[-1]["response"]
    assert done["status"] == "completed" and done["voice"] == "Ethan"
    assert done["usage"]["input_tokens_details"]["audio_tokens"] > 0
    conv.end_session(timeout=10)  # session.finish -> session.finished
    session = emu.wait_for_connection()
    assert session.received_types[-1] == "session.finish"
    # The SDK can see the frame before the emulator's writer has recorded it as sent.
    assert session.wait_for("session.finished")
