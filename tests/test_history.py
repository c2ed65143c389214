"""``omnichat history``: conversations written by real sessions against the emulator, and an
older transcript without session records, listed, shown in every format, removed; a bad id
or a corrupt line is one line, never a traceback."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from omnichat.cli import app
from omnichat.history.store import INDEX_NAME, ConversationStore

pytestmark = pytest.mark.timeout(60)

# Today's transcript format (docs/transcript.md) as written before session records existed.
OLD_FORMAT = [
    {"role": "user", "text": "[4.2 s of speech]", "timestamp": "2026-11-26T12:20:46.849+00:00"},
    {"role": "assistant", "text": "I heard about 4.2 seconds",
     "timestamp": "2026-11-26T12:20:51.457+00:00", "interrupted": True,
     "heard": "I heard about 4.2", "unheard": "seconds", "status": "cancelled"},
    {"role": "user", "text": "And now?", "timestamp": "2026-11-26T12:20:52.729+00:00"},
    {"role": "assistant", "text": "Now it is later.", "timestamp": "2026-11-26T12:20:54.600+00:00",
     "interrupted": False, "usage": {
         "input_tokens": 47, "output_tokens": 29,
         "input_tokens_details": {"text_tokens": 7, "audio_tokens": 40},
         "output_tokens_details": {"text_tokens": 9, "audio_tokens": 20}}},
]


@pytest.fixture
def logs(tmp_path, monkeypatch) -> Path:
    folder = tmp_path / "logs"
    config = tmp_path / "config.toml"
    config.write_text(f'transcript_dir = "{folder}"\n')
    monkeypatch.setenv("OMNICHAT_CONFIG", str(config))
    return folder


def omnichat(*args: str, stdin: str | None = None):
    return CliRunner().invoke(app, list(args), input=stdin)


def ask(question: str, *flags: str):
    result = omnichat("ask", "--local", "--text-only", "--emulator-speed", "fast", *flags,
                      question)
    assert result.exit_code == 0, result.output
    return result


def write_old(folder: Path, name: str = "2026-11-26T12-20-46") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in OLD_FORMAT))
    return path


def test_history_lists_new_and_old_conversations_newest_first(logs):
    ask("What is the capital of France?")
    ask("How tall is Mount Everest?", "--voice", "Ethan")
    write_old(logs)
    result = omnichat("history")
    assert result.exit_code == 0, result.output
    header, *rows, total = result.stdout.splitlines()
    assert header.split()[:5] == ["ID", "STARTED", "MODEL", "VOICE", "TURNS"]
    assert len(rows) == 3
    assert total.startswith("3 conversations: tokens ") and "(text " in total
    assert "audio 40" in total  # the old transcript's audio tokens in, by kind
    assert "How tall is Mount Everest?" in rows[0] and " Ethan " in rows[0]
    assert "What is the capital of France?" in rows[1] and " Tina " in rows[1]
    assert rows[2].startswith("2026-11-26T12-20-46") and "47 / 29" in rows[2]
    assert "qwen3.5-omni-plus-realtime" in rows[0] and " - " in rows[2]  # no model known

    listed = json.loads(omnichat("history", "--json").stdout)
    assert [c["turns"] for c in listed] == [2, 2, 4]
    old = listed[2]
    assert old["model"] is None and old["first_words"] == "[4.2 s of speech]"
    assert old["tokens_in_by_kind"] == {"text": 7, "audio": 40, "image": 0}
    assert old["duration_s"] == pytest.approx(7.8, abs=0.1)
    assert listed[0]["tokens_out_by_kind"]["text"] > 0 and listed[0]["voice"] == "Ethan"
    assert json.loads(omnichat("history", "list", "--json", "--limit", "1").stdout) \
        == listed[:1]
    assert Path(listed[2]["path"]) == logs / "2026-11-26T12-20-46.jsonl"


def test_show_prints_every_format_and_marks_what_was_not_heard(logs):
    write_old(logs)
    text = omnichat("history", "show", "last")
    assert text.exit_code == 0, text.output
    lines = text.stdout.splitlines()
    assert lines[0] == "conversation 2026-11-26T12-20-46"
    turns = [line for line in lines if line.startswith("[")]
    assert turns[0].endswith("] you: [4.2 s of speech]")
    assert turns[1].endswith("] qwen: I heard about 4.2 [not heard: seconds]")
    assert lines[-1] == "tokens 47 in (text 7, audio 40) / 29 out (text 9, audio 20)"

    md = omnichat("history", "show", "2026-11", "--format", "md").stdout
    assert md.startswith("# Conversation 2026-11-26T12-20-46\n")
    assert "**qwen** (" in md and "I heard about 4.2 ~~seconds~~ (not heard)" in md

    jsonl = omnichat("history", "show", "2026-11-26T12-20-46", "--format", "jsonl").stdout
    assert [json.loads(line) for line in jsonl.splitlines()] == OLD_FORMAT

    bad = omnichat("history", "show", "last", "--format", "html")
    assert bad.exit_code == 2 and bad.output.count("\n") == 1
    assert "--format html: use one of text, md, jsonl" in bad.output


def test_show_of_a_real_conversation_has_its_session_and_its_continuation(logs):
    ask("What is the capital of France?")
    ask("And of Spain?", "--continue")
    lines = omnichat("history", "show", "last").stdout.splitlines()
    assert "model qwen3.5-omni-plus-realtime" in lines[1] and "voice Tina" in lines[1]
    said = [line.split("] ", 1)[1] for line in lines if line.startswith("[")]
    assert said == ["you: What is the capital of France?", "qwen: I read 6 words.",
                    "you: And of Spain?", "qwen: I read 3 words."]
    assert any(line.startswith("-- resumed ") for line in lines)


def test_a_corrupt_line_is_skipped_with_a_warning(logs):
    path = write_old(logs)
    lines = path.read_text().splitlines()
    lines.insert(1, '{"role": "assistant", "text": "half a li')
    lines.insert(3, "[1, 2]")
    path.write_text("\n".join(lines) + "\n")
    result = omnichat("history", "show", "last")
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output
    warnings = [line for line in result.stderr.splitlines() if "warning" in line]
    assert warnings == [
        f"omnichat: warning: {path.name} line 2 is not a transcript record; skipped",
        f"omnichat: warning: {path.name} line 4 is not a transcript record; skipped"]
    assert result.stdout.count("] you: ") == 2 and result.stdout.count("] qwen: ") == 2
    assert json.loads(omnichat("history", "--json").stdout)[0]["skipped_lines"] == 2


@pytest.mark.parametrize("command", [["show", "nope"], ["rm", "nope"]])
def test_an_unknown_id_is_one_line_and_exit_2(logs, command):
    path = write_old(logs)
    before = path.read_bytes()
    result = omnichat("history", *command)
    assert result.exit_code == 2
    assert result.output == (f"omnichat: error: no conversation 'nope' in {logs}; "
                             "'omnichat history' lists them\n")
    assert path.read_bytes() == before


def test_rm_removes_one_and_path_says_where(logs):
    keep = write_old(logs, "2026-11-26T12-20-46")
    gone = write_old(logs, "2026-11-27T09-00-00")
    assert omnichat("history", "path").stdout == f"{logs}\n"
    result = omnichat("history", "rm", "2026-11-27")
    assert result.exit_code == 0 and "removed 2026-11-27T09-00-00" in result.stdout
    assert keep.exists() and not gone.exists()
    assert [c["id"] for c in json.loads(omnichat("history", "--json").stdout)] == [keep.stem]


def test_no_conversations_yet_is_said_and_not_an_error(logs):
    result = omnichat("history")
    assert result.exit_code == 0 and result.stdout == ""
    assert f"no conversations yet in {logs}" in result.stderr


def test_the_index_is_reused_refreshed_and_survives_damage(logs):
    for day in range(1, 6):
        write_old(logs, f"2026-11-0{day}T10-00-00")
    warnings: list[str] = []
    store = ConversationStore(logs, warnings.append)
    assert len(store.conversations()) == 5 and store.recomputed == 5
    assert len(store.conversations()) == 5 and store.recomputed == 0  # all from the index
    grown = logs / "2026-11-03T10-00-00.jsonl"
    with grown.open("a") as handle:  # a resumed conversation grew: its entry is stale
        handle.write(json.dumps({"role": "user", "text": "more",
                                 "timestamp": "2026-12-01T10:00:00+00:00"}) + "\n")
    listed = store.conversations()
    assert store.recomputed == 1 and listed[0].id == grown.stem and listed[0].summary.turns == 5
    index = json.loads((logs / INDEX_NAME).read_text())
    index["files"][grown.name]["summary"]["tokens_in"] = "many"  # damaged by hand
    (logs / INDEX_NAME).write_text(json.dumps(index))
    assert store.conversations()[0].summary.tokens_in == 47 and store.recomputed == 1
    (logs / INDEX_NAME).write_text("{not json")
    assert len(store.conversations()) == 5 and store.recomputed == 5
    (logs / "2026-11-01T10-00-00.jsonl").unlink()  # an entry for a file that is gone
    assert len(store.conversations()) == 4 and warnings == []
