"""CPU of ``omnichat talk --local`` in a real terminal (tmux 100x30) on the virtual sound card.

Starts a private virtual sound card and a private tmux server, runs ``omnichat talk --local``
in a 100x30 pane, and samples every second the CPU time of the client's main thread (the one
that polls the engine and draws the live view) and of the whole process. The status line on
the screen (``tmux capture-pane``) says what each second was: ``speaking`` while a reply
streams, ``listening`` when idle. First ``--idle`` seconds with nobody talking, then
``--turns`` spoken questions (espeak-ng clips played into the virtual microphone).

    .venv/bin/python benchmarks/view_cpu.py [--turns 4] [--idle 20] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
QUESTION = "What is the weather like in Hangzhou today?"
TICK_S = os.sysconf("SC_CLK_TCK")


def cpu_s(stat_path: str) -> float:
    fields = Path(stat_path).read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK_S  # utime + stime


class Pane:
    def __init__(self, socket: str, env: dict[str, str], command: list[str]):
        self.tmux = ["tmux", "-L", socket]
        exports = " ".join(f"{k}={shlex.quote(v)}" for k, v in env.items())
        shell = f"exec env {exports} {shlex.join(command)}"
        subprocess.run([*self.tmux, "-f", "/dev/null", "new-session", "-d", "-s", "view",
                        "-x", "100", "-y", "30", shell], check=True, timeout=10)
        out = subprocess.run([*self.tmux, "display", "-p", "-t", "view", "#{pane_pid}"],
                             check=True, capture_output=True, text=True, timeout=10)
        self.pid = int(out.stdout.strip())

    def screen(self) -> str:
        return subprocess.run([*self.tmux, "capture-pane", "-p", "-t", "view"],
                              capture_output=True, text=True, timeout=10).stdout

    def status(self) -> str:
        for row in reversed(self.screen().splitlines()):
            if row.startswith("● "):
                return row[2:].split()[0] if row[2:].split() else ""
        return ""

    def close(self) -> None:
        subprocess.run([*self.tmux, "send-keys", "-t", "view", "C-c"], timeout=10)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and Path(f"/proc/{self.pid}").exists():
            time.sleep(0.2)  # pacing a shutdown poll, not a test wait
        subprocess.run([*self.tmux, "kill-server"], timeout=10, capture_output=True)


def sample(pane: Pane, seconds: float, samples: list[tuple[str, float, float]]) -> None:
    """Per second: (status at its end, main-thread CPU %, process CPU %)."""
    main_stat, proc_stat = f"/proc/{pane.pid}/task/{pane.pid}/stat", f"/proc/{pane.pid}/stat"
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        t0, m0, p0 = time.monotonic(), cpu_s(main_stat), cpu_s(proc_stat)
        time.sleep(1.0)  # the sampling interval
        dt = time.monotonic() - t0
        status = pane.status()
        samples.append((status, 100 * (cpu_s(main_stat) - m0) / dt,
                        100 * (cpu_s(proc_stat) - p0) / dt))


def summary(samples: list[tuple[str, float, float]], status: str) -> dict[str, float]:
    mine = [s for s in samples if s[0] == status]
    if not mine:
        return {"seconds": 0}
    return {"seconds": len(mine), "main_thread_percent": statistics.median(s[1] for s in mine),
            "process_percent": statistics.median(s[2] for s in mine)}


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, default=4)
    parser.add_argument("--idle", type=float, default=20.0)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    from omnichat.bench.rig import VirtualRig
    from omnichat.bench.scenario import speech_clip

    samples: list[tuple[str, float, float]] = []
    with tempfile.TemporaryDirectory() as tmp, \
            VirtualRig(ROOT / "tests" / "rig" / "virtual-audio.sh") as env:
        clip = speech_clip(QUESTION, Path(tmp) / "question.wav")
        rig_env = {k: env[k] for k in ("PULSE_SERVER", "PULSE_COOKIE", "ALSA_CONFIG_PATH",
                                       "VA_DIR", "PATH", "HOME") if k in env}
        rig_env.update({"TERM": "xterm-256color", "OMNICHAT_CONFIG": str(Path(tmp) / "c.toml")})
        if "PYTHONPATH" in os.environ:
            rig_env["PYTHONPATH"] = os.environ["PYTHONPATH"]
        pane = Pane(f"omnichat-view-cpu-{os.getpid()}", rig_env,
                    [sys.executable, "-m", "omnichat", "talk", "--local", "--voice", "Cherry"])
        try:
            deadline = time.monotonic() + 30
            while pane.status() != "listening" and time.monotonic() < deadline:
                time.sleep(0.2)  # pacing: polling the screen for start-up
            sample(pane, args.idle, samples)
            for _ in range(args.turns):
                subprocess.run(["paplay", "-d", "rig_mic_feed", str(clip)], env=env,
                               timeout=60, check=True)
                sample(pane, 8.0, samples)
            screen = pane.screen()
        finally:
            pane.close()
    load = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    doc = {"idle": summary(samples, "listening"), "speaking": summary(samples, "speaking"),
           "load_average_end": load, "samples": samples}
    print(screen)
    for state in ("idle", "speaking"):
        s = doc[state]
        print(f"{state:<9} {s.get('seconds', 0):>3} s  main thread "
              f"{s.get('main_thread_percent', float('nan')):5.2f} %  process "
              f"{s.get('process_percent', float('nan')):5.2f} %  (median per second)")
    print(f"load average at the end: {load}")
    if args.json:
        args.json.write_text(json.dumps(doc, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
