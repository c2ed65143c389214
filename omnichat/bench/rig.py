"""Start and stop the virtual sound card (``tests/rig/virtual-audio.sh``) for a benchmark run.

``VirtualRig`` runs the script's ``start`` in a fresh ``VA_DIR`` (so a user's own sound server
and parallel runs are never touched) and returns the environment that points PulseAudio and
ALSA clients at it; ``stop`` (also on ``__exit__``) ends that daemon and removes the dir.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import tempfile
from pathlib import Path

from omnichat.bench.scenario import BenchError


class VirtualRig:
    def __init__(self, script: Path) -> None:
        self.script = script
        self.va_dir = Path(tempfile.mkdtemp(prefix="omnichat-bench-va-", dir="/tmp"))
        self.env: dict[str, str] = {}

    def _run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["bash", str(self.script), *args], capture_output=True, text=True,
                              env={**os.environ, "VA_DIR": str(self.va_dir)}, timeout=180)

    def __enter__(self) -> dict[str, str]:
        done = self._run("start")
        if done.returncode != 0:
            shutil.rmtree(self.va_dir, ignore_errors=True)
            lines = [ln for ln in done.stderr.splitlines() if ln.strip()] or ["(no output)"]
            raise BenchError(f"the virtual sound card did not start: {lines[-1]}")
        for line in done.stdout.splitlines():  # export NAME='value'
            name, _, value = line.removeprefix("export ").partition("=")
            self.env[name] = shlex.split(value)[0]
        return {**os.environ, **self.env}

    def __exit__(self, *exc: object) -> None:
        self._run("stop")
        shutil.rmtree(self.va_dir, ignore_errors=True)
