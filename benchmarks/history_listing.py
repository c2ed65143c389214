"""How long ``omnichat history`` takes with many conversations: cold (no index), warm (every
entry of the index fresh) and after one conversation grew (one stale entry).

Writes N synthetic transcripts of T turns each (session record, user and assistant lines
with usage, as omnichat writes them) into a temporary folder, then times
``ConversationStore.conversations()`` (what the listing, ``--continue`` and ``show`` use) and
the whole ``omnichat history`` command in a fresh process. Prints figures; asserts nothing.

    .venv/bin/python benchmarks/history_listing.py              # 1000 conversations x 40 turns
    .venv/bin/python benchmarks/history_listing.py --count 200 --turns 10
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from omnichat.history.store import ConversationStore

USAGE = {"total_tokens": 120, "input_tokens": 80, "output_tokens": 40,
         "input_tokens_details": {"text_tokens": 20, "audio_tokens": 60},
         "output_tokens_details": {"text_tokens": 10, "audio_tokens": 30}}


def write_conversations(folder: Path, count: int, turns: int) -> int:
    total = 0
    for n in range(count):
        day, minute = divmod(n, 1440)
        stamp = f"2026-{1 + day // 28:02d}-{1 + day % 28:02d}T{minute // 60:02d}:{minute % 60:02d}"
        lines = [{"role": "session", "text": "", "timestamp": f"{stamp}:00.000+00:00",
                  "conversation": "", "model": "qwen3.5-omni-plus-realtime", "voice": "Tina",
                  "region": "intl", "modalities": ["text", "audio"], "resumed": False}]
        for t in range(turns // 2):
            lines.append({"role": "user", "text": f"Question number {t} about the weather "
                          "and the trains tomorrow morning", "timestamp":
                          f"{stamp}:{t % 60:02d}.100+00:00", "item_id": f"item_{n}_{t}"})
            lines.append({"role": "assistant", "text": "An answer of a reasonable length "
                          "that says a few things about the weather. " * 3,
                          "timestamp": f"{stamp}:{t % 60:02d}.900+00:00",
                          "interrupted": False, "response_id": f"resp_{n}_{t}",
                          "status": "completed", "usage": USAGE, "latency_ms": 850.0})
        path = folder / f"{stamp.replace(':', '-')}-00.jsonl"
        path.write_text("".join(json.dumps(line) + "\n" for line in lines))
        total += path.stat().st_size
    return total


def timed(store: ConversationStore) -> tuple[float, int]:
    started = time.perf_counter()
    found = store.conversations()
    return (time.perf_counter() - started) * 1000, len(found)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--turns", type=int, default=40)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="omnichat-history-") as tmp:
        folder = Path(tmp) / "transcripts"
        folder.mkdir()
        size = write_conversations(folder, args.count, args.turns)
        store = ConversationStore(folder, lambda line: print("warning:", line))
        print(f"{args.count} conversations x {args.turns} turns, {size / 1e6:.1f} MB")
        print(f"{'run':<28}{'ms':>9}{'files read':>12}")
        for label in ("cold (no index)", "warm (index fresh)", "warm again"):
            ms, _ = timed(store)
            print(f"{label:<28}{ms:>9.1f}{store.recomputed:>12}")
        grown = sorted(folder.glob("*.jsonl"))[args.count // 2]
        with grown.open("a") as handle:
            handle.write(json.dumps({"role": "user", "text": "one more",
                                     "timestamp": "2027-01-01T00:00:00+00:00"}) + "\n")
        ms, _ = timed(store)
        print(f"{'one conversation grew':<28}{ms:>9.1f}{store.recomputed:>12}")
        config = Path(tmp) / "config.toml"
        config.write_text(f'transcript_dir = "{folder}"\n')
        env = {**os.environ, "OMNICHAT_CONFIG": str(config)}
        for label, command in (("omnichat history (process)", ["history"]),
                               ("omnichat history path", ["history", "path"])):
            started = time.perf_counter()
            subprocess.run([sys.executable, "-m", "omnichat", *command], env=env, check=True,
                           stdout=subprocess.DEVNULL)
            print(f"{label:<28}{(time.perf_counter() - started) * 1000:>9.1f}{'':>12}")


if __name__ == "__main__":
    main()
