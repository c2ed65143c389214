"""Conversations that carry on, through the real entry points against the emulator over a
real socket: ``--continue``/``--resume`` prime the new session and append to the same
transcript, ``ask`` answers one question (argument or stdin, spoken or text), and
``--events`` writes one JSON object per line for a spoken turn, a tool call and a barge-in."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import wave
from pathlib import Path

import numpy as np
import pytest
from test_engine_support import write_wav
from typer.testing import CliRunner

from omnichat.cli import app
from omnichat.engine.reconnect import HISTORY_HEADER
from omnichat.history.resume import RESUME_HEADER
from omnichat.transcript import read_transcript

pytestmark = pytest.mark.timeout(60)
KEY = "sk-lab-0123456789"
FAST = ["--input-pace", "0", "--emulator-speed", "fast", "--output-pace", "0"]


@pytest.fixture
def logs(tmp_path, monkeypatch) -> Path:
    """Transcripts in ``tmp_path/logs``; region ``lab`` is whatever ``lab()`` points it at."""
    monkeypatch.setenv("OMNICHAT_CONFIG", str(tmp_path / "config.toml"))
    monkeypatch.setenv("LAB_KEY", KEY)
    lab(tmp_path, "ws://127.0.0.1:9/unused")
    return tmp_path / "logs"


def lab(tmp_path: Path, url: str) -> None:
    (tmp_path / "config.toml").write_text(
        f'transcript_dir = "{tmp_path / "logs"}"\n'
        f'[regions.lab]\nurl = "{url}"\napi_key_env = "LAB_KEY"\n')
    (tmp_path / "config.toml").chmod(0o600)


def omnichat(*args: str, stdin: str | None = None):
    return CliRunner().invoke(app, list(args), input=stdin)


def noise(seconds: float, rng=np.random.default_rng(7)) -> np.ndarray:
    """Loud noise: every 20 ms frame of it counts as speech for the emulator's VAD."""
    return (rng.standard_normal(int(seconds * 16_000)) * 8000).clip(-32768, 32767).astype("<i2")


def wav(path: Path, *parts: tuple[str, float]) -> Path:
    pcm = [noise(s) if kind == "speech" else np.zeros(int(s * 16_000), "<i2")
           for kind, s in parts]
    return write_wav(path, np.concatenate(pcm).tobytes())


def events_of(text: str) -> list[dict]:
    events = [json.loads(line) for line in text.splitlines()]
    assert all(isinstance(e["type"], str) and e["time"].endswith("+00:00") for e in events)
    return events


def run(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    """The real entry point as a process: stdout and stderr kept apart, as a pipe sees them."""
    return subprocess.run([sys.executable, "-m", "omnichat", *args], input=stdin,
                          capture_output=True, text=True, timeout=50, env=dict(os.environ))


# ---- --continue / --resume ----------------------------------------------------------------


def test_continue_primes_the_new_session_and_appends_to_the_conversation(
        logs, tmp_path, make_emulator):
    emu = make_emulator()
    lab(tmp_path, emu.url)
    first = omnichat("ask", "--region", "lab", "--text-only", "What is the capital of France?")
    assert first.exit_code == 0, first.output
    assert first.stdout == "I read 6 words.\n"
    question = wav(tmp_path / "q.wav", ("speech", 1.0), ("silence", 1.2))
    second = omnichat("ptt", "--region", "lab", "--continue", "--input", str(question),
                      "--output", str(tmp_path / "r.wav"), *FAST)
    assert second.exit_code == 0, second.output
    assert [len(emu.connections)] == [2]
    assert RESUME_HEADER not in str(emu.connections[0].config.get("instructions"))
    told = emu.connections[1].config["instructions"]  # the first session.update of run 2
    assert told.endswith(f"{RESUME_HEADER}\nUser: What is the capital of France?\n"
                         "Assistant: I read 6 words.")
    files = list(logs.glob("*.jsonl"))
    assert len(files) == 1  # the same conversation
    assert [t["role"] for t in read_transcript(files[0])] == ["user", "assistant"] * 2
    assert f"continuing conversation {files[0].stem} (2 earlier turns)" in second.stdout
    assert "earlier you: What is the capital of France?" in second.stdout
    assert "earlier qwen: I read 6 words." in second.stdout
    listed = json.loads(omnichat("history", "--json").stdout)
    assert len(listed) == 1 and listed[0]["turns"] == 4


def test_a_reconnection_in_a_resumed_session_keeps_the_earlier_turns(
        logs, tmp_path, make_emulator):
    """The earlier turns stay in the session's instructions; the reconnection adds the new
    ones after them, as it does in any session (engine/reconnect.py)."""
    emu = make_emulator()
    lab(tmp_path, emu.url)
    assert omnichat("ask", "--region", "lab", "--text-only", "Capital of France?").exit_code == 0
    assert emu.wait_until_idle(10)  # the first connection is gone: the next takes the fault
    emu.faults.close_mid_response()
    result = omnichat("ask", "--region", "lab", "--text-only", "--continue", "And of Spain?")
    assert result.exit_code == 0, result.output
    assert "reconnected after" in result.stderr and len(emu.connections) == 3
    told = emu.connections[2].config["instructions"]
    earlier = f"{RESUME_HEADER}\nUser: Capital of France?\nAssistant: I read 3 words."
    assert told.startswith(earlier) and told.count("Capital of France?") == 1
    assert told.split(earlier, 1)[1].startswith(f"\n{HISTORY_HEADER}\nUser: And of Spain?")


def test_resume_by_id_and_another_voice_says_so_in_one_line(logs):
    assert omnichat("ask", "--local", "--text-only", "Hello there").exit_code == 0
    assert omnichat("ask", "--local", "--text-only", "Something else").exit_code == 0
    listed = json.loads(omnichat("history", "--json").stdout)
    older = logs / listed[1]["file"]
    assert listed[1]["first_words"] == "Hello there"
    result = omnichat("ask", "--local", "--text-only", "--resume", older.stem,
                      "--voice", "Ethan", "Go on")
    assert result.exit_code == 0, result.output
    assert result.stdout == "I read 2 words.\n"
    notes = result.stderr.splitlines()
    assert notes.count("info: this conversation was held with voice Tina; it continues with "
                       "model qwen3.5-omni-plus-realtime, voice Ethan (the current "
                       "settings)") == 1
    said = [t["text"] for t in read_transcript(older) if t["role"] == "user"]
    assert said == ["Hello there", "Go on"]


@pytest.mark.parametrize(("flags", "message"), [
    (["--continue"], "--continue: no earlier conversation in {logs}; start one without "
     "--continue (or pick one with --resume ID from 'omnichat history')"),
    (["--resume", "2026-01-01T00-00-00"],
     "no conversation '2026-01-01T00-00-00' in {logs}; 'omnichat history' lists them"),
    (["--continue", "--resume", "x"], "--continue and --resume both given; use one"),
])
@pytest.mark.parametrize("command", ["talk", "ptt", "ask"])
def test_nothing_to_continue_is_one_line_and_exit_2(logs, tmp_path, command, flags, message):
    args = ["Hello"] if command == "ask" else ["--input", str(tmp_path / "q.wav")]
    result = omnichat(command, "--local", *flags, *args)
    assert result.exit_code == 2
    assert result.output == f"omnichat: error: {message.format(logs=logs)}\n"
    assert not logs.exists() or not any(logs.iterdir())


def test_continue_with_transcript_is_refused(logs):
    assert omnichat("ask", "--local", "--text-only", "Hello").exit_code == 0
    result = omnichat("ask", "--local", "--continue", "--transcript", "x.jsonl", "Hi")
    assert result.exit_code == 2 and "give only one" in result.output
    assert not Path("x.jsonl").exists()


# ---- ask ----------------------------------------------------------------------------------


def test_ask_speaks_the_reply_and_prints_only_its_text(logs, tmp_path):
    reply = tmp_path / "reply.wav"
    result = omnichat("ask", "--local", "--emulator-speed", "fast", "--output", str(reply),
                      "--output-pace", "0", "What is the capital of France?")
    assert result.exit_code == 0, result.output
    assert result.stdout == "I read 6 words.\n"
    assert "transcript: " in result.stderr and "reply audio: " in result.stderr
    assert "tokens " in result.stderr and "audio " in result.stderr  # by kind
    with wave.open(str(reply)) as w:
        assert w.getnframes() > 24_000 // 2  # the spoken reply was played into the file
    turns = read_transcript(next(logs.glob("*.jsonl")))
    assert [t["text"] for t in turns] == ["What is the capital of France?", "I read 6 words."]


def test_ask_reads_the_question_from_a_pipe_and_answers_on_the_pipe(logs):
    proc = run("ask", "--local", "--emulator-speed", "fast", "--text-only", "-",
               stdin="How far away is the moon?\n")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "I read 6 words.\n"  # nothing else on the pipe
    assert "transcript: " in proc.stderr and "Traceback" not in proc.stderr


def test_ask_reads_stdin_and_speaks(logs, tmp_path):
    result = omnichat("ask", "--local", "--emulator-speed", "fast", "--output",
                      str(tmp_path / "r.wav"), "--output-pace", "0", "-",
                      stdin="How far away is the moon?\n")
    assert result.exit_code == 0, result.output
    assert result.stdout == "I read 6 words.\n" and (tmp_path / "r.wav").stat().st_size > 44


@pytest.mark.parametrize("stdin,args", [(None, ["   "]), ("\n  \n", ["-"])])
def test_an_empty_question_is_one_line_and_exit_2(logs, stdin, args):
    result = omnichat("ask", "--local", *args, stdin=stdin)
    assert result.exit_code == 2 and result.output.count("\n") == 1
    assert "is empty; ask something" in result.output
    assert not logs.exists()


def test_ask_exit_codes_follow_the_failure(logs, tmp_path, make_emulator, monkeypatch):
    no_key = omnichat("ask", "Hello")  # the real service without a key
    assert no_key.exit_code == 5 and "no API key" in no_key.output
    emu = make_emulator(api_key="sk-another-key-000000")
    lab(tmp_path, emu.url)
    refused = omnichat("ask", "--region", "lab", "--text-only", "Hello")
    assert refused.exit_code == 5 and KEY not in refused.output
    assert refused.stdout == ""


# ---- --events -----------------------------------------------------------------------------


def test_events_of_a_spoken_turn_and_a_tool_call(logs, tmp_path, make_emulator):
    emu = make_emulator(replies=["call current_time {}"])
    lab(tmp_path, emu.url)
    question = wav(tmp_path / "q.wav", ("speech", 1.0), ("silence", 1.0))
    proc = run("ptt", "--region", "lab", "--tools", "time", "--input", str(question),
               "--output", str(tmp_path / "r.wav"), "--events", "-", *FAST)
    assert proc.returncode == 0, proc.stderr
    events = events_of(proc.stdout)  # every line of stdout is an event
    types = [e["type"] for e in events if e["type"] != "assistant.delta"]
    notices = [e["text"] for e in events if e["type"] == "notice"]
    assert any(text.startswith("tools on:") for text in notices), notices  # said at start
    types = [t for t in types if t != "notice"]
    assert types[0] == "session.start" and types[-1] == "session.end"
    assert types[:6] == ["session.start", "listening", "speech.started", "speech.stopped",
                         "user.turn", "assistant.started"], types
    # the response that calls the tool is a turn of its own (empty text; it may end before
    # or after the tool does), then the answer that uses the result
    rest = [t for t in types[6:] if t in ("tool.call", "tool.result", "assistant.started",
                                          "assistant.turn", "session.end")]
    assert rest in (["tool.call", "assistant.turn", "tool.result", "assistant.started",
                     "assistant.turn", "session.end"],
                    ["tool.call", "tool.result", "assistant.turn", "assistant.started",
                     "assistant.turn", "session.end"]), types
    start = events[0]
    assert start["model"] == "qwen3.5-omni-plus-realtime" and start["region"] == "lab"
    call = next(e for e in events if e["type"] == "tool.call")
    result = next(e for e in events if e["type"] == "tool.result")
    assert call["name"] == result["name"] == "current_time"
    assert result["status"] == "ok" and result["call_id"] == call["call_id"]
    answer = [e for e in events if e["type"] == "assistant.turn"][-1]
    assert answer["text"].startswith("The tool said:") and answer["usage"]["output_tokens"] > 0
    assert any(e["type"] == "assistant.delta" for e in events)
    end = events[-1]
    assert end["turns"] == 3 and end["tokens_out_by_kind"]["audio"] > 0
    assert "you: " in proc.stderr and "transcript: " in proc.stderr  # the human view


def test_events_of_a_barge_in_in_order(logs, tmp_path, make_emulator):
    long = "This is a long answer that goes on and on, " * 6
    emu = make_emulator(replies=[long, "Short."])
    lab(tmp_path, emu.url)
    talk = wav(tmp_path / "q.wav", ("speech", 0.8), ("silence", 1.6), ("speech", 0.8),
               ("silence", 2.0))
    out = tmp_path / "events.jsonl"
    proc = run("talk", "--region", "lab", "--input", str(talk), "--input-pace", "2",
               "--output", str(tmp_path / "r.wav"), "--output-pace", "2", "--events", str(out))
    assert proc.returncode == 0, proc.stderr
    assert "you: " in proc.stdout  # with a file for the events, the view stays on stdout
    events = events_of(out.read_text())
    types = [e["type"] for e in events if e["type"] != "assistant.delta"]
    cut = types.index("interrupted")  # the user spoke over the reply: it is cut at once
    assert types[cut - 1:cut + 2] == ["assistant.started", "interrupted", "speech.started"], \
        " ".join(types)
    assert types.index("assistant.turn") > cut and "speech.stopped" in types[cut + 2:]
    replies = [e for e in events if e["type"] == "assistant.turn"]
    assert replies[0]["interrupted"] is True and replies[0]["unheard"]
    assert replies[-1]["text"] == "Short." and replies[-1]["interrupted"] is False
    assert types[-1] == "session.end"


def test_events_of_reconnection_and_failure_follow_the_status(tmp_path):
    """The statuses and updates the engine gives during an outage, as events (the seam the
    fault tests drive over a real socket: ``Engine.updates``)."""
    from omnichat.engine import updates as up
    from omnichat.errors import ConnectionLost
    from omnichat.ui.events import EventSink

    out = tmp_path / "e.jsonl"
    with out.open("w") as handle:
        sink = EventSink(handle, owned=False)
        for update in [up.StatusChanged(up.LISTENING), up.StatusChanged(up.RECONNECTING),
                       up.Notice("reconnected after 1.2 s", level="info"),
                       up.StatusChanged(up.LISTENING), up.MicMuted(True),
                       up.Failed(ConnectionLost("gone for good"))]:
            sink.observe(update)
    events = events_of(out.read_text())
    assert [e["type"] for e in events] == ["listening", "reconnecting", "notice",
                                           "reconnected", "listening", "microphone", "error"]
    assert events[-1]["message"] == "gone for good" and events[-2]["muted"] is True


def test_a_bad_events_path_is_one_line_before_anything_runs(logs, tmp_path):
    result = omnichat("ask", "--local", "--events", str(tmp_path), "Hello")
    assert result.exit_code == 2 and result.output.count("\n") == 1
    assert f"cannot write the events to {tmp_path}" in result.output
    assert not logs.exists()


def test_the_live_view_opens_with_the_earlier_turns_dimmed():
    import io

    from rich.console import Console

    from omnichat.engine.turns import Turn
    from omnichat.ui import LiveView
    from omnichat.ui.earlier import show_earlier

    screen = io.StringIO()
    view = LiveView(Console(file=screen, force_terminal=True, width=80, color_system="standard"))
    show_earlier(view, [Turn("user", "What is the capital of France?"),
                        Turn("assistant", "Paris is", interrupted=True, heard="Paris",
                             unheard="is")])
    view.close()
    drawn = screen.getvalue()
    assert "earlier in this conversation:" in drawn

    def style_of(text: str) -> list[str]:  # the SGR codes in effect where ``text`` is drawn
        found = re.search(r"\x1b\[([0-9;]*)m[^\x1b]*" + re.escape(text), drawn)
        assert found, (text, drawn)
        return found.group(1).split(";")

    assert "2" in style_of("What is the capital of France?")  # 2 = dim
    assert "2" in style_of("Paris") and "2" in style_of("✂")
