"""How to start a client under test: its command line and environment.

A client reaches the emulator through ``OMNICHAT_BENCH_URL`` (``ws://127.0.0.1:PORT/...``,
without ``?model=``) and ``OMNICHAT_BENCH_KEY``; it uses the default audio devices of the
sound server in its environment (the rig's ``rig_mic`` and ``rig_speaker``).

``omnichat talk`` picks its endpoint from the configuration, so ``omnichat_client`` writes a
config file with a region ``bench`` whose ``url`` is the emulator and runs ``talk --region
bench``: the same code path as a user's custom region, over a real socket.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path

BENCH_KEY = "bench-not-a-real-key"
KEY_ENV = "OMNICHAT_BENCH_KEY"


@dataclass(frozen=True)
class ClientSpec:
    """A client to run: ``argv`` in ``cwd`` with ``env`` added to the rig's environment."""

    name: str
    argv: list[str]
    env: dict[str, str] = field(default_factory=dict)
    cwd: Path | None = None
    setup: str = ""  # written to the config file named by env OMNICHAT_CONFIG, if any


def omnichat_client(work_dir: Path) -> ClientSpec:
    """``omnichat talk`` against the served emulator on the default devices."""
    config = work_dir / "omnichat-bench.toml"
    return ClientSpec(
        name="omnichat",
        argv=[sys.executable, "-m", "omnichat", "talk", "--region", "bench", "--voice", "Cherry",
              "--transcript", str(work_dir / "omnichat-transcript.jsonl")],
        env={"OMNICHAT_CONFIG": str(config)},
        setup='[regions.bench]\nurl = "{url}"\napi_key_env = "' + KEY_ENV + '"\n')
