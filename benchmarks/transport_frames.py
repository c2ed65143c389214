"""Cost of the transport per small frame, over loopback (a few seconds).

A websockets server on 127.0.0.1 discards what it is sent, sends bursts on request and echoes
the rest. The script prints, for ``WebSocketTransport``: the time to send 10,000 small text
frames (an event about the size of a short control event), to receive a burst of 10,000, and
the round trip of 1,000 echoed frames one at a time (median and 99th percentile). Figures
only; nothing is asserted. Run: ``.venv/bin/python benchmarks/transport_frames.py``.
"""

from __future__ import annotations

import statistics
import threading
import time

from websockets.sync.server import ServerConnection, serve

from omnichat.protocol import client as cev
from omnichat.protocol.events import Event
from omnichat.transport import WebSocketTransport

FRAMES = 10_000
ROUND_TRIPS = 1_000
SMALL = '{"type":"session.finished","event_id":"event_0123456789"}'


def _handler(ws: ServerConnection) -> None:
    """discard: count silently; burst N: send N small frames; anything else: echo it."""
    discarded = 0
    for message in ws:
        text = message if isinstance(message, str) else message.decode()
        if '"discard"' in text:
            discarded += 1
            if discarded == FRAMES:
                ws.send(SMALL)
        elif text.startswith('{"type":"burst"'):
            for _ in range(FRAMES):
                ws.send(SMALL)
        else:
            ws.send(SMALL)


def _measure(url: str) -> dict[str, float]:
    transport = WebSocketTransport(url, None)
    transport.connect()
    try:
        discard = cev.user_text_message("discard")
        start = time.perf_counter()
        for _ in range(FRAMES):
            transport.send(discard)
        transport.recv()  # the server's "all received"
        send_s = time.perf_counter() - start
        start = time.perf_counter()
        transport.send(Event("burst", {"type": "burst"}))
        for _ in range(FRAMES):
            transport.recv()
        recv_s = time.perf_counter() - start
        trips = []
        commit = cev.input_audio_commit()
        for _ in range(ROUND_TRIPS):
            start = time.perf_counter()
            transport.send(commit)
            transport.recv()
            trips.append(time.perf_counter() - start)
    finally:
        transport.close()
        transport.release()
    trips.sort()
    return {"send_us": send_s / FRAMES * 1e6, "recv_us": recv_s / FRAMES * 1e6,
            "rtt_median_us": statistics.median(trips) * 1e6,
            "rtt_p99_us": trips[int(len(trips) * 0.99)] * 1e6}


def main() -> None:
    with serve(_handler, "127.0.0.1", 0, max_size=None) as server:
        thread = threading.Thread(target=server.serve_forever, name="bench-server")
        thread.start()
        try:
            port = server.socket.getsockname()[1]
            figures = [_measure(f"ws://127.0.0.1:{port}/") for _ in range(3)]
        finally:
            server.shutdown()
            thread.join(10.0)
    for name in figures[0]:
        values = ", ".join(f"{run[name]:.1f}" for run in figures)
        print(f"{name:>14}: {values}  (3 runs)")


if __name__ == "__main__":
    main()
