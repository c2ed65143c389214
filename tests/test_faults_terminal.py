"""``q`` on a real terminal ends a session whose reconnect hangs (issue 16, Found 3: it took
9 s while the reconnect ran on the main thread). ``omnichat talk`` runs on a
pseudo-terminal (tests/pty_session.py) against the emulator behind the loopback fault proxy
(tests/fault_proxy.py), whose ``hang_connects()`` accepts TCP and never answers the
handshake: each reconnect attempt would hang for ``connect_timeout_s`` (10 s)."""

from __future__ import annotations

import time
from types import SimpleNamespace

import pexpect
import pytest
from fault_proxy import FaultProxy
from pty_session import spawn, speech_then_silence

from omnichat.transcript import read_transcript

pytestmark = pytest.mark.timeout(60)

# Well under the 10 s a hanging connect takes, and loose enough for a loaded machine; the
# engine-level test (test_faults_liveness.py) holds close() itself to 2 s.
QUIT_WITHIN_S = 5.0


def test_q_on_the_terminal_ends_a_session_whose_reconnect_hangs(make_emulator, tmp_path):
    emu = make_emulator(replies=["Hello."])
    proxy = FaultProxy("127.0.0.1", emu.port)
    try:
        wav = speech_then_silence(tmp_path / "mic.wav", speech_s=1.0, silence_s=60.0)
        child = spawn(SimpleNamespace(url=proxy.url(emu.url)), tmp_path, "talk", wav=wav)
        child.expect_exact("Hello.")
        emu.connection.wait_for("response.done", timeout=20)
        child.expect_exact("listening")  # the reply is over: its turn is in the transcript
        proxy.hang_connects()
        proxy.cut()
        child.expect_exact("reconnecting")
        started = time.monotonic()
        child.send("q")
        try:
            child.expect(pexpect.EOF, timeout=QUIT_WITHIN_S)
        except pexpect.TIMEOUT:
            pytest.fail(f"q did not end the session within {QUIT_WITHIN_S} s of a hanging "
                        f"reconnect; the screen:\n{child.before[-2000:]}")
        quit_s = time.monotonic() - started
        child.close()
    finally:
        proxy.close()
    assert child.exitstatus == 0, (quit_s, child.before[-2000:])
    turns = [t for t in read_transcript(tmp_path / "t.jsonl") if t.get("role")]
    assert [(t["role"], t.get("text")) for t in turns][-1] == ("assistant", "Hello.")
    assert [t["role"] for t in turns] == ["user", "assistant"]
