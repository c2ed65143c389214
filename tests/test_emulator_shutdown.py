"""Shutdown always completes, even with a client that never reads (issue 9, item 2).

Such a client used to block the emulator's send in ``sendall`` forever, holding websockets'
frame lock, so ``close()`` (and ``omnichat serve`` after Ctrl+C, twice) never returned. Every
write now has a deadline. No time is measured: the test asserts that ``close()`` returns.
"""

from __future__ import annotations

import base64
import json
import os
import signal
import socket
import subprocess
import sys
import threading

import numpy as np
import websocket

from omnichat.emulator import Emulator

TONE_1S = (np.sin(np.arange(16_000) * 0.2) * 12_000).astype("<i2").tobytes()
LONG_REPLY = " ".join(["This reply is long enough to fill every socket buffer on the way."] * 8)
CLOSE_BOUND_S = 20.0  # a hang, not a speed: send_timeout_s + close timeout is ~3 s


def flood_without_reading(url: str) -> websocket.WebSocket:
    """Connect, configure, then send audio turns until the server stops taking them."""
    ws = websocket.create_connection(
        f"{url}?model=qwen3.5-omni-plus-realtime", timeout=0.5,
        sockopt=[(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096),
                 (socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)])
    ws.send(json.dumps({"type": "session.update", "session": {"turn_detection": None}}))
    audio = json.dumps({"type": "input_audio_buffer.append",
                        "audio": base64.b64encode(TONE_1S).decode()})
    try:
        for _ in range(2000):
            ws.send(audio)
            ws.send(json.dumps({"type": "input_audio_buffer.commit"}))
            ws.send(json.dumps({"type": "response.create"}))
    except (websocket.WebSocketTimeoutException, OSError):
        return ws  # the server stopped reading: its writer is stuck behind us
    raise AssertionError("the emulator kept reading from a client that never reads")


def test_close_completes_while_a_client_never_reads():
    emu = Emulator(speed="fast", replies=[LONG_REPLY]).start()
    ws = flood_without_reading(emu.url)
    closer = threading.Thread(target=emu.close, name="test-closer", daemon=True)
    closer.start()
    closer.join(CLOSE_BOUND_S)
    assert not closer.is_alive(), "Emulator.close() hangs on a client that never reads"
    assert emu.wait_until_idle(timeout=0)
    ws.shutdown()


def test_a_client_that_never_reads_is_dropped_after_the_send_timeout():
    with Emulator(speed="fast", replies=[LONG_REPLY], send_timeout_s=0.5, record=True) as emu:
        ws = flood_without_reading(emu.url)
        connection = emu.wait_for_connection()
        assert connection.wait_closed(CLOSE_BOUND_S)
        assert emu.wait_until_idle(CLOSE_BOUND_S)
        ws.shutdown()


def test_serve_exits_on_ctrl_c_while_a_client_never_reads(tmp_path):
    script = tmp_path / "replies.txt"
    script.write_text(LONG_REPLY + "\n")
    process = subprocess.Popen(
        [sys.executable, "-m", "omnichat", "serve", "--port", "0", "--speed", "fast",
         "--reply-script", str(script)],
        stderr=subprocess.PIPE, text=True, env=os.environ | {"PYTHONUNBUFFERED": "1"})
    try:
        line = process.stderr.readline()
        ws = flood_without_reading(line.split("listening on ")[1].split("?")[0])
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=CLOSE_BOUND_S) == 130
        ws.shutdown()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


LIBRARY_TRACEBACK = """
import socket
from omnichat.emulator import Emulator
with Emulator() as emu:
    socket.create_connection(("127.0.0.1", emu.port)).close()  # a client that vanishes
    try:
        raise EOFError("stream ends after 0 bytes")
    except EOFError:  # what websockets logs when a vanished client's keepalive ping fails
        emu._server.logger.error("keepalive ping failed", exc_info=True)
print("served")
"""


def test_the_websockets_library_log_stays_out_of_serve_output():
    """Issue 16: `serve` printed websockets' tracebacks (keepalive ping failed, EOFError)
    when clients vanished; they go to omnichat's logger, shown only with --debug."""
    proc = subprocess.run([sys.executable, "-c", LIBRARY_TRACEBACK], capture_output=True,
                          text=True, timeout=30)
    assert proc.returncode == 0 and proc.stdout == "served\n", proc.stderr
    assert "Traceback" not in proc.stderr and "keepalive ping failed" not in proc.stderr
