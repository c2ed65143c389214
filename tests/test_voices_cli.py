"""`omnichat voices`: table on a terminal, plain lines when piped, JSON, filters, errors."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys

import pytest
from rich.console import Console
from typer.testing import CliRunner

from omnichat.cli import app
from omnichat.config.settings import config_path
from omnichat.errors import UsageError
from omnichat.voices import list_voices

runner = CliRunner()


def test_json_lists_every_voice_with_utf8_names():
    result = runner.invoke(app, ["voices", "--model", "qwen3.5-omni-plus-realtime", "--json"])
    assert result.exit_code == 0, result.output
    voices = json.loads(result.stdout)
    assert len(voices) == 55 and voices[0]["voice"] == "Tina"
    assert {"voice", "name", "description", "languages"} <= set(voices[0])
    assert "Eliška" in result.stdout  # not \u escaped
    sunny = next(v for v in voices if v["voice"] == "Sunny")
    assert sunny["name"] == "Sichuan–Sunny"


def test_language_filter_is_a_case_insensitive_substring():
    result = runner.invoke(app, ["voices", "-m", "qwen3-omni-flash-realtime-2025-12-01",
                                 "--language", "CANTON", "--json"])
    assert [v["voice"] for v in json.loads(result.stdout)] == ["Rocky", "Kiki"]


def test_a_language_no_voice_speaks_is_one_line_exit_2():
    none = runner.invoke(app, ["voices", "-m", "qwen-omni-turbo-realtime", "-l", "korean",
                               "--json"])
    assert none.exit_code == 2 and none.stdout == ""
    assert none.stderr == ("omnichat: error: no voice of qwen-omni-turbo-realtime speaks "
                           "'korean'; try one of: Chinese, English\n")


def test_terminal_filter_with_markup_characters_is_an_error_not_a_crash():
    buffer = io.StringIO()
    console = Console(file=buffer, width=120, color_system=None, force_terminal=True)
    with pytest.raises(UsageError, match=r"speaks '\[/bold\]'"):
        list_voices("qwen3-omni-flash-realtime", language="[/bold]", console=console)
    assert list_voices("qwen3-omni-flash-realtime", language="Eng", console=console) == 17
    assert "17 voices speaking 'Eng'" in buffer.getvalue()


def test_piped_output_is_plain_tab_separated_lines():
    result = runner.invoke(app, ["voices", "--model", "qwen-omni-turbo-realtime"])
    assert result.exit_code == 0
    assert "\x1b" not in result.stdout
    lines = result.stdout.splitlines()
    assert len(lines) == 5
    assert lines[0].split("\t") == ["voice", "name", "default", "description", "languages"]
    assert lines[1].split("\t") == ["Cherry", "Cherry", "",
                                    "A sunny, positive, friendly, and natural young woman",
                                    "Chinese, English"]
    assert lines[4].split("\t")[:3] == ["Chelsie", "Chelsie", "yes"]  # the default


def test_rows_of_a_30_language_model_stay_short_unless_long():
    short = runner.invoke(app, ["voices", "--model", "qwen3.5-omni-plus-realtime"])
    rows = short.stdout.splitlines()[1:]
    assert len(rows) == 55 and max(len(row) for row in rows) < 160
    assert rows[0].endswith("\tChinese (Mandarin) +29 more")
    full = runner.invoke(app, ["voices", "--model", "qwen3.5-omni-plus-realtime", "--long"])
    assert full.stdout.splitlines()[1].endswith(", Norwegian, Persian")


def test_a_language_every_voice_speaks_says_so_and_find_narrows_by_words():
    german = runner.invoke(app, ["voices", "-l", "german"])
    assert german.exit_code == 0 and len(german.stdout.splitlines()) == 56
    assert german.stderr == ("omnichat: every voice of qwen3.5-omni-plus-realtime speaks "
                             "'german'; --find narrows by name, style or who speaks (e.g. "
                             "--find woman, --find warm)\n")
    women = runner.invoke(app, ["voices", "-l", "german", "--find", "woman", "--json"])
    names = [v["voice"] for v in json.loads(women.stdout)]
    assert names == ["Cindy", "Serena", "Sonrisa", "Hana", "Griet", "Ingrid", "Sigga", "Bea"]
    men = json.loads(runner.invoke(app, ["voices", "-f", "man", "--json"]).stdout)
    assert "Wil" in [v["voice"] for v in men] and "Serena" not in [v["voice"] for v in men]
    sichuan = json.loads(runner.invoke(app, ["voices", "-f", "sichuan", "--json"]).stdout)
    assert [v["voice"] for v in sichuan] == ["Sunny", "Eric"]
    nobody = runner.invoke(app, ["voices", "--find", "astronaut"])
    assert nobody.exit_code == 2 and "matches 'astronaut'" in nobody.stderr


def test_terminal_output_is_a_table():
    buffer = io.StringIO()
    console = Console(file=buffer, width=120, color_system=None, force_terminal=True)
    count = list_voices("qwen3-omni-flash-realtime", console=console)
    text = buffer.getvalue()
    assert count == 17
    assert "qwen3-omni-flash-realtime: 17 voices" in text
    assert "● Cherry" in text and "Shanghai - Jada" in text and "● default voice (Cherry)" in text
    assert max(len(row) for row in text.splitlines()) <= 120
    assert "unverified" not in text


def test_qwen38_voices_are_marked_unverified():
    buffer = io.StringIO()
    console = Console(file=buffer, width=120, color_system=None, force_terminal=True)
    assert list_voices("qwen3.8-omni-flash-realtime", console=console) == 55
    text = " ".join(buffer.getvalue().split())
    assert "● Tina" in text and "qwen3.5-omni's list, unverified" in text


def test_unknown_model_is_one_line_exit_2():
    result = runner.invoke(app, ["voices", "--model", "qwen-omni"])
    assert result.exit_code == 2
    assert result.stderr.startswith("omnichat: error: unknown model 'qwen-omni'; known models: "
                                    "qwen3.5-omni-plus-realtime, ")
    assert result.stderr.count("\n") == 1


def test_without_model_uses_the_configured_model(monkeypatch):
    monkeypatch.setenv("OMNICHAT_MODEL", "qwen-omni-turbo-realtime")
    result = runner.invoke(app, ["voices", "--json"])
    assert [v["voice"] for v in json.loads(result.stdout)] == [
        "Cherry", "Serena", "Ethan", "Chelsie"]
    monkeypatch.delenv("OMNICHAT_MODEL")
    path = config_path()
    path.parent.mkdir(parents=True)
    path.write_text('model = "qwen3-omni-flash-realtime"\n', encoding="utf-8")
    assert len(json.loads(runner.invoke(app, ["voices", "--json"]).stdout)) == 17


def test_real_entry_point_in_a_subprocess():
    env = {**os.environ, "PYTHONIOENCODING": "ascii", "LC_ALL": "C"}  # UTF-8 regardless
    result = subprocess.run(
        [sys.executable, "-m", "omnichat", "voices", "--model", "qwen3.5-omni-plus-realtime",
         "--json"], capture_output=True, env=env, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    voices = json.loads(result.stdout.decode("utf-8"))
    assert len(voices) == 55
    assert any(v["voice"] == "Eliška" for v in voices)
