"""omnichat beside the vendor guide's sample clients, on the same virtual sound card.

Runs one scenario (spoken turns answered in full, then interruptions) against the local
emulator (``omnichat serve --trace``, real time) with each client in turn, measures what the
virtual speaker played (``omnichat.bench``), and prints each client's figures and omnichat's
ratio to each vendor sample (below 1: omnichat is faster). Clients:

* ``omnichat``: ``omnichat talk --region bench`` (a config region whose url is the emulator);
* ``vendor-sdk``: the guide's DashScope SDK VAD sample (benchmarks/vendor_vad_dash.py);
* ``vendor-ws``: the guide's websockets VAD sample (benchmarks/vendor_vad_mode.py with
  tests/vendor/omni_realtime_client.py).

The vendor samples need PyAudio (``apt-get install portaudio19-dev`` then
``.venv/bin/pip install pyaudio``) and the SDK ``dashscope`` (in the test extra).
Run: ``.venv/bin/python benchmarks/vendor_compare.py [--turns 6] [--barge-ins 4] [--json F]``
(about 3 minutes with the defaults). Not part of ``make test``.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import platform
import shutil
import sys
import tempfile
from pathlib import Path

from omnichat.bench.clients import ClientSpec, omnichat_client
from omnichat.bench.figures import Summary, format_table, ratio
from omnichat.bench.rig import VirtualRig
from omnichat.bench.scenario import BenchError, Result, Scenario, run_client, speech_clip

ROOT = Path(__file__).resolve().parent.parent
QUESTIONS = ("What is the weather like in Hangzhou today?", "Tell me a short story please.",
             "How far away is the moon?")
INTERRUPTION = "Wait, stop, I have another question."


def vendor_clients() -> list[ClientSpec]:
    bench = ROOT / "benchmarks"
    return [
        ClientSpec("vendor-sdk", [sys.executable, str(bench / "vendor_vad_dash.py")], cwd=bench),
        ClientSpec("vendor-ws", [sys.executable, str(bench / "vendor_vad_mode.py")], cwd=bench,
                   env={"PYTHONPATH": str(ROOT / "tests" / "vendor")}),
    ]


def missing_requirements() -> list[str]:
    """One line per missing piece, each saying how to install it."""
    missing = []
    if importlib.util.find_spec("pyaudio") is None:
        missing.append("PyAudio: apt-get install portaudio19-dev && .venv/bin/pip install pyaudio")
    if importlib.util.find_spec("dashscope") is None:
        missing.append("dashscope: .venv/bin/pip install 'dashscope>=1.23.9'")
    for tool, package in (("parec", "pulseaudio-utils"), ("espeak-ng", "espeak-ng")):
        if shutil.which(tool) is None:
            missing.append(f"{tool}: apt-get install {package}")
    return missing


def scenario(work: Path, turns: int, barge_ins: int, pace: str = "realtime") -> Scenario:
    clips = [speech_clip(q, work / f"question-{i}.wav") for i, q in enumerate(QUESTIONS)]
    stop = speech_clip(INTERRUPTION, work / "interruption.wav")
    return Scenario(turns=[clips[i % len(clips)] for i in range(turns)],
                    barge_ins=[(clips[i % len(clips)], stop) for i in range(barge_ins)],
                    pace=pace)


def alsa_underruns(log: Path) -> int:
    """ALSA's "underrun occurred" lines in a client's output: its device ran dry (in a reply
    or between replies; ``added_silence`` is the part inside replies)."""
    try:
        text = log.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return 0
    return sum("underrun occurred" in line for line in text.splitlines())


def report(results: list[Result]) -> str:
    lines = [f"machine: {platform.machine()} {platform.processor() or ''} "
             f"{_cpu_model()}, Python {platform.python_version()}",
             f"load average at the end: {_loadavg()}"]
    for r in results:
        clock = r.speaker_clock
        lines += ["", f"== {r.client}", format_table(r.figures.summaries())]
        if clock:
            lines.append(f"speaker clock: delivery jitter {clock.jitter_ms:.2f} ms, sink block "
                         f"{clock.block_ms:.1f} ms, drift {clock.drift_ms:.2f} ms")
        lines.append(f"ALSA underrun messages: {alsa_underruns(r.client_log)}")
        lines += [f"skipped: {k} x{v}" for k, v in r.figures.skipped.items()] + r.notes
    ours = next((r for r in results if r.client == "omnichat"), None)
    for other in (r for r in results if ours and r is not ours):
        lines += ["", f"== omnichat / {other.client} (median ratio; < 1: omnichat faster)"]
        for name, s in ours.figures.summaries().items():
            q = ratio(s, other.figures.summaries()[name])
            lines.append(f"{name:<28} {'-' if q is None else f'{q:.2f}'}")
    return "\n".join(lines)


def _loadavg() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "unknown"


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return ""


def as_json(results: list[Result]) -> dict:
    def figures(r: Result) -> dict[str, dict]:
        return {k: Summary.as_dict(s) for k, s in r.figures.summaries().items()}
    return {r.client: {"figures": figures(r), "raw_ms": r.figures.values,
                       "alsa_underruns": alsa_underruns(r.client_log),
                       "skipped": r.figures.skipped, "notes": r.notes} for r in results}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, default=6)
    parser.add_argument("--barge-ins", type=int, default=4)
    parser.add_argument("--only", choices=("omnichat", "vendor-sdk", "vendor-ws"), action="append")
    parser.add_argument("--pace", default="realtime",
                        help="The emulator's --speed: realtime (1), or a factor such as 1.1 or 3 "
                             "(reply audio sent that many times faster than it plays).")
    parser.add_argument("--json", type=Path, help="Also write the figures here.")
    parser.add_argument("--keep", action="store_true",
                        help="Keep the work dir (traces, client logs, clips) and print its path.")
    args = parser.parse_args(argv)
    wanted = args.only or ["omnichat", "vendor-sdk", "vendor-ws"]
    missing = [] if wanted == ["omnichat"] else missing_requirements()
    if missing:
        print("vendor_compare: missing requirements:\n  " + "\n  ".join(missing), file=sys.stderr)
        return 2
    work = Path(tempfile.mkdtemp(prefix="omnichat-bench-"))
    try:
        with VirtualRig(ROOT / "tests" / "rig" / "virtual-audio.sh") as env:
            plan = scenario(work, args.turns, args.barge_ins, args.pace)
            clients = [omnichat_client(work), *vendor_clients()]
            results = [run_client(c, plan, work, env) for c in clients if c.name in wanted]
    except BenchError as exc:
        print(f"vendor_compare: {exc} (work dir kept: {work})", file=sys.stderr)
        return 1
    print(f"server pace: {args.pace}")
    print(report(results))
    if args.json:
        args.json.write_text(json.dumps(as_json(results), indent=2), encoding="utf-8")
    if args.keep:
        print(f"work dir: {work}")
    else:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
