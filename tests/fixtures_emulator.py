"""Fixtures that run the local emulator on a free loopback port.

``emulator``: a running ``Emulator`` at fast speed that records every frame (``record=True``:
``emu.connection.sent_types``, ``.received``, ``.wait_for(...)``), closed (threads joined)
after the test. ``make_emulator(**kwargs)``: a factory for other options (api_key, replies,
transcripts, transcription, idle_timeout_s, speed, cancel_response_done, record=False, ...);
every emulator it made is closed after the test, in reverse order. ``speech_pcm(text)``: a
16 kHz mono PCM clip of ``text`` spoken by espeak-ng (skipped where espeak-ng is missing).
"""

from __future__ import annotations

import base64
import json
import shutil
import subprocess

import pytest
from websocket import create_connection

from omnichat.audio.wav import wav_bytes_mono
from omnichat.emulator import Emulator

__all__ = ["emulator", "make_emulator", "speech_pcm", "emulator_client", "RawClient"]
DEFAULT_MODEL = "qwen3.5-omni-plus-realtime"


class RawClient:
    """A bare websocket-client connection for protocol-level emulator tests."""

    def __init__(self, emu: Emulator, model: str = DEFAULT_MODEL, key: str | None = None,
                 timeout_s: float = 10.0) -> None:
        header = [f"Authorization: Bearer {key}"] if key else []
        self.ws = create_connection(f"{emu.url}?model={model}", timeout=timeout_s,
                                    header=header)
        self.created = self.recv()

    def send(self, type_name: str, **fields) -> None:
        self.ws.send(json.dumps({"type": type_name, **fields}))

    def append(self, pcm: bytes, chunk_bytes: int = 3200) -> None:
        for i in range(0, len(pcm), chunk_bytes):
            self.send("input_audio_buffer.append",
                      audio=base64.b64encode(pcm[i:i + chunk_bytes]).decode("ascii"))

    def recv(self) -> dict:
        return json.loads(self.ws.recv())

    def until(self, type_name: str, limit: int = 5000) -> list[dict]:
        """Events up to and including the first ``type_name`` (AssertionError on close)."""
        seen = []
        for _ in range(limit):
            event = self.recv()
            seen.append(event)
            if event["type"] == type_name:
                return seen
        raise AssertionError(f"no {type_name} in {limit} events")

    def close(self) -> None:
        if self.ws.connected:
            self.ws.close(timeout=2)
        self.ws.shutdown()


@pytest.fixture
def make_emulator():
    made: list[Emulator] = []

    def factory(**kwargs) -> Emulator:
        kwargs.setdefault("speed", "fast")
        kwargs.setdefault("record", True)
        emu = Emulator(**kwargs)
        made.append(emu)
        return emu.start()

    try:
        yield factory
    finally:
        for emu in reversed(made):
            emu.close()


@pytest.fixture
def emulator(make_emulator):
    return make_emulator()


@pytest.fixture
def emulator_client():
    """``emulator_client(emu, model=..., key=...) -> RawClient``; all closed after the test."""
    clients: list[RawClient] = []

    def connect(emu: Emulator, **kwargs) -> RawClient:
        clients.append(RawClient(emu, **kwargs))
        return clients[-1]

    try:
        yield connect
    finally:
        for client in clients:
            client.close()


@pytest.fixture(scope="session")
def speech_pcm():
    """``speech_pcm(text, rate_hz=16000) -> bytes``: espeak-ng speech as s16le mono PCM."""
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed (apt-get install espeak-ng)")
    cache: dict[tuple[str, int], bytes] = {}

    def synth(text: str, rate_hz: int = 16_000) -> bytes:
        if (text, rate_hz) not in cache:
            wav = subprocess.run(["espeak-ng", "--stdout", "-v", "en-us", "--", text],
                                 capture_output=True, check=True, timeout=30).stdout
            cache[(text, rate_hz)] = wav_bytes_mono(wav, rate_hz).astype("<i2").tobytes()
        return cache[(text, rate_hz)]

    return synth
