"""Memory over a long conversation: two hours of audio-time through the emulator, compressed.

``long_run(hours)`` (``omnichat bench --long``, ``benchmarks/memory_long_run.py``) measures the
resident memory (VmRSS from /proc/PID/status) of the emulator and of the client, each in its
own process, at the start, after a warm-up and at the end. Target: growth under 5 MB each over
two hours of audio-time (issue 7).

    .venv/bin/python benchmarks/memory_long_run.py            # 2 h of audio-time, ~1-3 min
    .venv/bin/python benchmarks/memory_long_run.py --hours 0.2

Processes: it starts ``omnichat serve --speed fast`` on a free loopback port, then runs
``python -m omnichat.bench.long_run --client URL`` as the client: omnichat's
``WebSocketTransport`` plus the protocol builders. The client streams turns of speech-like tone
and silence in 100 ms appends, faster than real time, lets the emulator's server VAD end each
turn and waits for the reply's ``response.done`` before the next turn, so the conversation has
the real shape: one reply per turn, every reply's audio received and dropped. It reads both
processes' VmRSS at checkpoints and prints them as JSON lines; this script turns those into a
table.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from omnichat.bench.scenario import BenchError

RATE_HZ = 16_000
CHUNK_MS = 100
SILENCE_S = 1.2  # > the default silence_duration_ms (800 ms): each turn ends by VAD
SPEECH_S = (6.0, 7.5, 9.0, 10.5, 12.0)  # user turns of varied length
# Short replies keep the run to minutes: a reply's audio costs the Python client ~25 ms per
# 200 ms packet to read, and memory does not depend on a reply's length (nothing is kept).
REPLIES = ("Sure.", "I see, go on.", "Right, and then?")
WARM_UP_FRACTION = 0.05  # caches (reply speech) fill during the first 5% of audio-time
CHECKPOINTS = 10
REPLY_TIMEOUT_S = 30.0


def rss_kib(pid: int | str = "self") -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for {pid}")


# --- the client process -------------------------------------------------------------------------


def turn_audio(speech_s: float) -> list[bytes]:
    import numpy as np

    t = np.arange(int(speech_s * RATE_HZ)) / RATE_HZ
    speech = (np.sin(2 * np.pi * 220 * t) * np.clip(np.sin(2 * np.pi * 4 * t), 0.3, 1) * 12_000)
    pcm = np.concatenate([speech, np.zeros(int(SILENCE_S * RATE_HZ))]).astype("<i2").tobytes()
    step = RATE_HZ * CHUNK_MS // 1000 * 2
    return [pcm[i:i + step] for i in range(0, len(pcm), step)]


class Replies:
    """The reader thread ``bench-recv``: counts replies; blocks in recv; the socket's close
    (end of run) ends it."""

    def __init__(self, transport: Any) -> None:
        self.transport = transport
        self.done = threading.Semaphore(0)  # released per response.done
        self.audio_bytes = 0
        self.thread = threading.Thread(target=self._recv_loop, name="bench-recv", daemon=True)

    def _recv_loop(self) -> None:
        while (event := self.transport.recv()) is not None:
            if event.type == "response.audio.delta":
                self.audio_bytes += len(event.get("delta") or "")
            elif event.type == "response.done":
                self.done.release()


def run_client(url: str, emulator_pid: int, hours: float) -> None:
    from omnichat import protocol
    from omnichat.transport import WebSocketTransport

    turns = [turn_audio(s) for s in SPEECH_S]
    turn_s = [len(t) * CHUNK_MS / 1000 for t in turns]
    total_s, spoken_s, lost, count = hours * 3600, 0.0, 0, 0
    report("start", 0.0, emulator_pid, 0, 0)
    transport = WebSocketTransport(url, None)
    transport.connect()
    replies = Replies(transport)
    replies.thread.start()
    transport.send(protocol.session_update({"modalities": ["text", "audio"]}))
    marks = [WARM_UP_FRACTION] + [k / CHECKPOINTS for k in range(1, CHECKPOINTS + 1)]
    while spoken_s < total_s:
        index = count % len(turns)
        for chunk in turns[index]:
            transport.send(protocol.input_audio_append(chunk))
        spoken_s += turn_s[index]
        count += 1
        lost += not replies.done.acquire(timeout=REPLY_TIMEOUT_S)
        while marks and spoken_s >= marks[0] * total_s:
            label = "warm" if marks[0] == WARM_UP_FRACTION else f"{marks[0]:.0%}"
            report(label, spoken_s, emulator_pid, count, lost)
            marks.pop(0)
    transport.close()
    print(json.dumps({"turns": count, "lost": lost, "reply_b64_mb": replies.audio_bytes / 1e6}),
          flush=True)


def report(label: str, spoken_s: float, emulator_pid: int, turns: int, lost: int) -> None:
    print(json.dumps({"at": label, "audio_min": round(spoken_s / 60, 1), "turns": turns,
                      "lost": lost, "wall_s": round(time.monotonic() - STARTED, 1),
                      "emulator_kib": rss_kib(emulator_pid), "client_kib": rss_kib()}),
          flush=True)


STARTED = time.monotonic()


# --- the orchestrating process ------------------------------------------------------------------


def start_emulator(script: Path) -> tuple[subprocess.Popen[str], str]:
    script.write_text("\n".join(REPLIES) + "\n", encoding="utf-8")
    process = subprocess.Popen(
        [sys.executable, "-m", "omnichat", "serve", "--port", "0", "--speed", "fast",
         "--reply-script", str(script)],
        stderr=subprocess.PIPE, text=True, env=os.environ | {"PYTHONUNBUFFERED": "1"})
    assert process.stderr is not None
    line = process.stderr.readline()
    if "listening on " not in line:
        process.kill()
        raise BenchError(f"the emulator did not start: {line.strip()}")
    url = line.split("listening on ")[1].split("?")[0]
    return process, f"{url}?model=qwen3.5-omni-plus-realtime"


def print_table(rows: list[dict[str, Any]], summary: dict[str, Any]) -> None:
    print(f"{'at':>6} {'audio min':>9} {'turns':>6} {'wall s':>7} {'emulator MB':>12} "
          f"{'client MB':>10}")
    for row in rows:
        print(f"{row['at']:>6} {row['audio_min']:>9} {row['turns']:>6} {row['wall_s']:>7} "
              f"{row['emulator_kib'] / 1024:>12.1f} {row['client_kib'] / 1024:>10.1f}")
    first, warm, last = rows[0], rows[1], rows[-1]
    for name in ("emulator", "client"):
        key = f"{name}_kib"
        print(f"{name}: growth {(last[key] - warm[key]) / 1024:+.1f} MB after warm-up, "
              f"{(last[key] - first[key]) / 1024:+.1f} MB from start")
    print(f"turns {summary['turns']}, replies lost {summary['lost']}, "
          f"reply audio received {summary['reply_b64_mb']:.0f} MB (base64)")


def long_run(hours: float) -> dict[str, float]:
    """Run ``hours`` of audio-time; the client's and emulator's memory (MB) and their growth
    after the warm-up."""
    with tempfile.TemporaryDirectory() as tmp:
        emulator, url = start_emulator(Path(tmp) / "replies.txt")
        rows, summary = run_against(emulator, url, hours)
    first, warm, last = rows[0], rows[1], rows[-1]
    return {"audio_hours": hours, "wall_s": last["wall_s"], "turns": summary["turns"],
            "lost": summary["lost"],
            "client_rss_mb": round(last["client_kib"] / 1024, 1),
            "client_growth_mb": round((last["client_kib"] - warm["client_kib"]) / 1024, 2),
            "client_growth_from_start_mb": round((last["client_kib"] - first["client_kib"])
                                                 / 1024, 2),
            "emulator_growth_mb": round((last["emulator_kib"] - warm["emulator_kib"]) / 1024, 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hours", type=float, default=2.0, help="audio-time to stream")
    parser.add_argument("--client", metavar="URL", help=argparse.SUPPRESS)
    parser.add_argument("--emulator-pid", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.client:
        run_client(args.client, args.emulator_pid, args.hours)
        return
    with tempfile.TemporaryDirectory() as tmp:
        emulator, url = start_emulator(Path(tmp) / "replies.txt")
        summary = run_against(emulator, url, args.hours)
    print_table(*summary)


def run_against(emulator: subprocess.Popen[str], url: str,
                hours: float) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    try:
        client = subprocess.run(
            [sys.executable, "-m", "omnichat.bench.long_run", "--client", url,
             "--emulator-pid", str(emulator.pid), "--hours", str(hours)],
            capture_output=True, text=True, check=False)
    finally:
        emulator.terminate()
        emulator.wait(timeout=30)
    if client.returncode != 0:
        raise BenchError(f"the long-run client failed: {client.stderr.strip()[-300:]}")
    lines = [json.loads(line) for line in client.stdout.splitlines() if line.startswith("{")]
    return [line for line in lines if "at" in line], lines[-1]


if __name__ == "__main__":
    main()
