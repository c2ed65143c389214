"""``omnichat bench``: every figure of one measured conversation, as a table and as JSON.

``run_bench`` resolves the settings, measures the network round trip to each region (real
service only), starts the emulator (``--local``: ``omnichat serve`` in a child process, so this
process's CPU and memory are the client's), runs one instrumented conversation
(``live.run_live``), times start-up, optionally runs the compressed long run
(``long_run``), and prints and writes the figures.
"""

from __future__ import annotations

import json
import platform
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any
from urllib.parse import quote

from rich.console import Console
from rich.table import Table

from omnichat.bench.figures import summarize
from omnichat.bench.live import LiveOptions, reply_script, run_live
from omnichat.bench.probes import connect_times, startup_times
from omnichat.bench.scenario import BenchError
from omnichat.errors import UsageError

SERVE_START_S = 20.0

# (name, unit, what it measures); the order of the table and the JSON.
FIGURES: tuple[tuple[str, str, str], ...] = (
    ("mic_to_wire", "ms", "microphone ADC -> frame sent (oldest sample of each batch)"),
    ("mic_to_wire_client", "ms", "the same without the input device's part (below)"),
    ("mic_device", "ms", "input device: ADC time -> the block's callback"),
    ("wire_to_ear", "ms", "reply's first audio arrives -> its first sample at the DAC"),
    ("wire_to_ear_client", "ms", "the same without the output device's buffer"),
    ("barge_in", "ms", "speech_started arrives -> silence at the DAC"),
    ("barge_in_local", "ms", "local interruption -> silence at the DAC"),
    ("eos_to_heard", "ms", "end of speech (ADC) -> first reply sample (DAC)"),
    ("eos_client", "ms", "  client part: capture + send, arrival -> DAC"),
    ("eos_network", "ms", "  network part: one round trip (0 on loopback)"),
    ("eos_server", "ms", "  server part: VAD silence window + first audio"),
    ("underruns_per_min", "/min", "playback ran dry mid-reply"),
    ("device_underflows_per_min", "/min", "PortAudio output underflows"),
    ("mic_blocks_dropped_per_min", "/min", "microphone blocks dropped (sender behind)"),
    ("cpu_percent", "%", "CPU, percent of one core, per second, live view on"),
    ("rss_mb", "MB", "resident memory, per second"),
    ("startup_help", "ms", "omnichat --help, wall time"),
    ("startup_voices", "ms", "omnichat voices, wall time"),
)


@dataclass
class BenchOptions:
    local: bool = False
    json_path: Path | None = None
    turns: int = 3
    barge_ins: int = 1
    speak_into: str | None = None
    input_wav: Path | None = None
    long: bool = False
    long_hours: float = 2.0
    startup_runs: int = 5
    rtt_runs: int = 5


def run_bench(flags: dict[str, Any], options: BenchOptions, *,
              stream: IO[str] | None = None) -> dict[str, Any]:
    """Measure, print the table, write ``--json``; returns the JSON document."""
    from omnichat.config.settings import load_settings
    from omnichat.session.talk import missing_key_error
    from omnichat.ui import make_view

    if options.turns < 0 or options.barge_ins < 0 or options.turns + options.barge_ins == 0:
        raise UsageError("--turns and --barge-ins must be >= 0 and not both 0")
    if options.json_path is not None and not options.json_path.parent.is_dir():
        raise UsageError(f"cannot write {options.json_path}: no such directory "
                         f"{options.json_path.parent}; pick another --json path")
    settings = load_settings(flags)
    if not options.local and not settings.api_key:
        raise missing_key_error(settings)
    out = stream if stream is not None else sys.stdout
    values: dict[str, list[float]] = {}
    rtt_s = 0.0 if options.local else _region_rtts(options, values, settings.region)
    live = LiveOptions(turns=options.turns, barge_ins=options.barge_ins,
                       speak_into=options.speak_into, input_wav=options.input_wav,
                       network_rtt_s=rtt_s)
    with tempfile.TemporaryDirectory(prefix="omnichat-bench-") as tmp:
        url, key, serve = _endpoint(settings, options, live, Path(tmp))
        try:
            view = make_view(None, out)
            try:
                result = run_live(settings.session_payload(), _connector(settings, url, key),
                                  live, view, settings.input_device, settings.output_device)
            finally:
                view.close()
        finally:
            if serve is not None:
                _stop(serve)
    values.update(result.values)
    values["startup_help"] = startup_times(["--help"], options.startup_runs)
    values["startup_voices"] = startup_times(["voices"], options.startup_runs)
    doc = _document(values, result.counters, result.minutes, result.notes, options)
    doc["cpu_seconds_by_thread"] = result.cpu_threads_s
    if options.long:
        from omnichat.bench.long_run import long_run

        doc["long_run"] = long_run(options.long_hours)
    print_table(doc, Console(file=out, width=100, highlight=False))
    if options.json_path is not None:
        _write_json(options.json_path, doc)
    return doc


def _region_rtts(options: BenchOptions, values: dict[str, list[float]], region: str) -> float:
    from omnichat.catalog import REGIONS

    for name, spec in REGIONS.items():
        values[f"rtt_{name}"] = connect_times(spec.url, options.rtt_runs)
    mine = summarize(values.get(f"rtt_{region}", [])).median
    return (mine or 0.0) / 1000.0 / 2  # connect + TLS is about two round trips


def _endpoint(settings: Any, options: BenchOptions, live: LiveOptions,
              tmp: Path) -> tuple[str, str | None, subprocess.Popen[bytes] | None]:
    if not options.local:
        return settings.endpoint(), settings.api_key, None
    script = tmp / "replies.txt"
    script.write_text(reply_script(live), encoding="utf-8")
    log = tmp / "serve.log"
    with open(log, "wb") as err:
        serve = subprocess.Popen([sys.executable, "-m", "omnichat", "serve", "--port", "0",
                                  "--speed", "realtime", "--reply-script", str(script)],
                                 stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err)
    deadline = time.monotonic() + SERVE_START_S
    while time.monotonic() < deadline and serve.poll() is None:
        text = log.read_text(encoding="utf-8", errors="replace")
        if "listening on " in text:
            url = text.split("listening on ")[1].split("?")[0]
            return f"{url}?model={quote(settings.model, safe='')}", None, serve
        time.sleep(0.05)  # polling a child's log file; nothing to wait on
    _stop(serve)
    raise BenchError(f"the emulator did not start within {SERVE_START_S:.0f} s")


def _connector(settings: Any, url: str, key: str | None) -> Any:
    from omnichat.transport import WebSocketTransport

    return lambda: WebSocketTransport(url, key, region=settings.region,
                                      key_env="" if key is None else settings.api_key_env,
                                      connect_timeout_s=settings.connect_timeout_s,
                                      allow_insecure=settings.allow_insecure,
                                      headers=None if key is None else settings.headers())


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=5)


def _document(values: dict[str, list[float]], counters: dict[str, int], minutes: float,
              notes: list[str], options: BenchOptions) -> dict[str, Any]:
    names = [name for name, _, _ in FIGURES] + sorted(k for k in values if k.startswith("rtt_"))
    units = {name: unit for name, unit, _ in FIGURES}
    figures = {}
    for name in names:
        summary = summarize(values.get(name, []))
        figures[name] = {**summary.as_dict(), "unit": units.get(name, "ms")}
    return {"target": "emulator" if options.local else "service",
            "machine": {"platform": platform.platform(), "python": platform.python_version(),
                        "processor": platform.machine()},
            "minutes": round(minutes, 2), "figures": figures, "counters": counters,
            "notes": notes}


def _write_json(path: Path, doc: dict[str, Any]) -> None:
    tmp = path.with_name(path.name + ".part")
    try:
        tmp.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
        tmp.replace(path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise UsageError(f"cannot write {path}: {exc.strerror or exc}; "
                         "pick another --json path") from exc


def print_table(doc: dict[str, Any], console: Console) -> None:
    what = {name: text for name, _, text in FIGURES}
    table = Table(title=f"omnichat bench ({doc['target']}, {doc['minutes']:.1f} min)")
    for column in ("figure", "median", "p95", "count", "unit", "what"):
        table.add_column(column, justify="right" if column in ("median", "p95", "count")
                         else "left")
    for name, fig in doc["figures"].items():
        table.add_row(name, _cell(fig["median"]), _cell(fig["p95"]), str(fig["count"]),
                      fig["unit"], what.get(name, "TCP + TLS connect to the region"))
    console.print(table)
    if doc.get("long_run"):
        console.print(f"long run: {doc['long_run']}")
    for note in doc["notes"]:
        console.print(f"note: {note}")


def _cell(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"

