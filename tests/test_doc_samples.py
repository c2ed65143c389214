"""The README's and docs/talk.md's screen samples are the program's own output: the live
view's are drawn here by ``LiveView`` on an 80x16 ``Screen`` from the updates of the
conversation they describe (a spoken question, "Wait, stop." over the answer, a second
question). The ``make demo`` sample is compared with the real command's output where
``tests/test_readme.py`` runs it (``check_sample``), docs/tools.md's tool-call sample with
the output of the command it documents. Times, latencies and token counts are
normalised before comparing.

When a sample is out of date the assertion prints the block to paste in its place.
"""

from __future__ import annotations

import re
from pathlib import Path

from rich.console import Console
from ui_screen import Screen

from omnichat.engine import updates as up
from omnichat.engine.turns import Turn
from omnichat.ui import LiveView, ViewConfig

ROOT = Path(__file__).resolve().parent.parent
FIRST = "I heard about 3.4 seconds of speech."
HEARD = "I heard about 3.4 seconds"
SECOND = "I heard about 1.2 seconds of speech."


def blocks(path: Path) -> list[str]:
    """The fenced blocks without a language (screen samples), in order."""
    blocks, current, info = [], None, ""
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("```"):
            if current is None:
                current, info = [], line[3:].strip()
            else:
                if not info:
                    blocks.append("\n".join(current))
                current = None
        elif current is not None:
            current.append(line)
    return blocks


def _normal(text: str) -> str:
    text = re.sub(r"\[\d\d:\d\d:\d\d\]", "[HH:MM:SS]", text)
    text = re.sub(r"\d+ ms", "N ms", text)
    return re.sub(r"(≥?)\d+ (in|out)\b", r"\1N \2", text).rstrip()


def _interrupted() -> list[up.Update]:
    return [up.StatusChanged(up.LISTENING), up.StatusChanged(up.HEARING),
            up.TurnFinished(Turn("user", "[3.4 s of speech]", item_id="i1")),
            up.StatusChanged(up.THINKING), up.AssistantStarted("r1"),
            up.StatusChanged(up.SPEAKING),
            *(up.AssistantDelta("r1", (" " if n else "") + word)
              for n, word in enumerate(FIRST.split())),
            up.LatencyMeasured("r1", 925.0), up.StatusChanged(up.INTERRUPTED),
            up.Interrupted("r1", len(HEARD), 1400.0),
            up.TurnFinished(Turn("assistant", FIRST, response_id="r1", interrupted=True,
                                 heard=HEARD, unheard="of speech.", latency_ms=925.0,
                                 status="cancelled"))]


def _answered() -> list[up.Update]:
    return [up.StatusChanged(up.HEARING),
            up.TurnFinished(Turn("user", "[1.2 s of speech]", item_id="i2")),
            up.StatusChanged(up.THINKING), up.AssistantStarted("r2"),
            up.StatusChanged(up.SPEAKING), up.AssistantDelta("r2", SECOND),
            up.LatencyMeasured("r2", 890.0),
            up.TurnFinished(Turn("assistant", SECOND, response_id="r2", latency_ms=890.0,
                                 usage={"input_tokens": 41, "output_tokens": 29})),
            up.StatusChanged(up.LISTENING)]


def live_samples() -> tuple[str, str]:
    """The screen after the interruption, and after the second answer (80x16, keys on)."""
    screen = Screen(80, 16)
    console = Console(file=screen, width=80, height=16, force_terminal=True,
                      color_system=None)
    view = LiveView(console, ViewConfig(model="qwen3.5-omni-plus-realtime", voice="Tina",
                                        local=True, keys=True))
    shots = []
    for updates in (_interrupted(), _answered()):
        for update in updates:
            view.apply(update)
        view.refresh(None)
        shots.append("\n".join(row for row in screen.history() if row))
    view.close()
    return shots[0], shots[1]


def check_sample(documented: str, produced: str, where: str) -> None:
    assert _normal(documented) == _normal(produced), (
        f"{where} is out of date; paste this block in its place:\n{produced}")


def test_the_live_view_samples_are_what_the_view_draws():
    after_cut, after_answer = live_samples()
    talk = blocks(ROOT / "docs" / "talk.md")
    readme = blocks(ROOT / "README.md")
    check_sample(readme[0], after_answer, "README.md's first sample")
    cut = next(b for b in talk if "● interrupted" in b)
    check_sample(cut, after_cut, "docs/talk.md's interrupted sample")
    answered = next(b for b in talk if "● listening" in b and "1.2 s" in b)
    check_sample(answered, after_answer, "docs/talk.md's second sample")


def test_the_tool_call_sample_is_what_the_documented_command_prints(tmp_path, monkeypatch):
    """docs/tools.md's plain-output sample, from the command it documents (``--local``, the
    reply script that calls ``calculate``)."""
    from typer.testing import CliRunner

    from omnichat.cli import app

    monkeypatch.chdir(tmp_path)
    (tmp_path / "script.txt").write_text('call calculate {"expression": "6*7"}\n')
    question = ROOT / "omnichat" / "data" / "sample-question.wav"
    result = CliRunner().invoke(app, [
        "talk", "--local", "--local-reply-script", "script.txt", "--tools", "calculator",
        "--text-only", "--input", str(question), "--input-pace", "8",
        "--transcript", str(tmp_path / "t.jsonl")])
    assert result.exit_code == 0, result.output
    produced = "\n".join(line for line in result.output.splitlines() if "] qwen: " in line)
    documented = next(b for b in blocks(ROOT / "docs" / "tools.md") if "⚙ calculate" in b)
    check_sample(documented, produced, "docs/tools.md's tool-call sample")
