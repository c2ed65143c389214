"""`omnichat config init|show|path` through the real Typer app."""

from __future__ import annotations

import stat

from typer.testing import CliRunner

from omnichat.cli import app
from omnichat.config.commands import starter_text
from omnichat.config.settings import config_path

KEY = "sk-verysecret-abcdef0123456789"
runner = CliRunner()


def test_path_prints_the_default_location():
    result = runner.invoke(app, ["config", "path"])
    assert result.exit_code == 0
    assert result.stdout.strip() == str(config_path())


def test_path_honours_omnichat_config(tmp_path, monkeypatch):
    monkeypatch.setenv("OMNICHAT_CONFIG", str(tmp_path / "alt.toml"))
    assert runner.invoke(app, ["config", "path"]).stdout.strip() == str(tmp_path / "alt.toml")


def test_init_writes_a_private_starter_file_creating_directories():
    path = config_path()
    assert not path.parent.exists()
    result = runner.invoke(app, ["config", "init"])
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == f"wrote {path}"
    assert path.read_text(encoding="utf-8") == starter_text()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in path.parent.iterdir()] == ["config.toml"]  # no temp file left


def test_init_refuses_to_overwrite_without_force():
    path = config_path()
    path.parent.mkdir(parents=True)
    path.write_text('voice = "Maia"\n', encoding="utf-8")
    result = runner.invoke(app, ["config", "init"])
    assert result.exit_code == 2
    assert result.stderr == (f"omnichat: error: config file {path} already exists; edit it, or "
                             "run `omnichat config init --force` to replace it\n")
    assert path.read_text(encoding="utf-8") == 'voice = "Maia"\n'
    forced = runner.invoke(app, ["config", "init", "--force"])
    assert forced.exit_code == 0 and path.read_text(encoding="utf-8") == starter_text()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_init_reports_an_unwritable_directory(tmp_path, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("")
    monkeypatch.setenv("OMNICHAT_CONFIG", str(blocker / "sub" / "config.toml"))
    result = runner.invoke(app, ["config", "init"])
    assert result.exit_code == 2 and "cannot write config file" in result.stderr


def test_show_without_a_file_lists_defaults():
    result = runner.invoke(app, ["config", "show"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].startswith("config file") and "(not found; `omnichat config init`" in lines[0]
    assert any(line.split() == ["region", "intl", "(default)"] for line in lines)
    assert any("not set; export DASHSCOPE_API_KEY=" in line for line in lines)
    assert any(line.startswith("temperature") and "model default 0.7" in line for line in lines)


def test_show_reports_sources_and_hides_the_key(monkeypatch):
    runner.invoke(app, ["config", "init"])
    monkeypatch.setenv("DASHSCOPE_API_KEY", KEY)
    monkeypatch.setenv("OMNICHAT_VOICE", "Ethan")
    result = runner.invoke(app, ["config", "show"])
    assert result.exit_code == 0, result.output
    assert KEY not in result.output and KEY[:-4] not in result.output
    lines = {line.split()[0]: line for line in result.stdout.splitlines()}
    assert lines["api_key"].split(None, 1)[1] == "set (…6789) from DASHSCOPE_API_KEY"
    assert lines["voice"].endswith("Ethan  (env)")
    assert lines["model"].endswith("qwen3.5-omni-plus-realtime  (file)")
    assert lines["config"].endswith(str(config_path()))


def test_show_a_short_key_reveals_nothing(monkeypatch):
    monkeypatch.setenv("DASHSCOPE_API_KEY", "sk-12345")
    result = runner.invoke(app, ["config", "show"])
    assert "set (…) from DASHSCOPE_API_KEY" in result.stdout and "2345" not in result.stdout


def test_show_with_a_bad_file_is_one_line_and_exit_2():
    path = config_path()
    path.parent.mkdir(parents=True)
    path.write_text("[turn_detection]\nthreshold = 3\n", encoding="utf-8")
    result = runner.invoke(app, ["config", "show"])
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1
    assert f"{path}:2, key 'turn_detection.threshold': 3 is out of range" in result.stderr


def test_every_mistake_of_a_file_is_reported_at_once_with_its_line():
    """Four mistakes, four lines in file order (not one per run), each naming its line; a
    misplaced ``voise`` under [turn_detection] is pointed at the top-level ``voice``."""
    path = config_path()
    path.parent.mkdir(parents=True)
    path.write_text('model = "qwen3.5-omni-plus-realtime"\nvoice = "Nobody"\n\n'
                    '[turn_detection]\nvoise = "Ethan"\nthreshold = 3\n'
                    'silence_duration_ms = "long"\n', encoding="utf-8")
    result = runner.invoke(app, ["config", "show"])
    assert result.exit_code == 2 and result.stdout == ""
    lines = result.stderr.splitlines()
    assert [line.split(", key ")[0] for line in lines] == [
        f"omnichat: error: config file {path}:{n}" for n in (2, 5, 6, 7)]
    assert "has no voice 'Nobody'" in lines[0]
    assert lines[1].endswith("'turn_detection.voise': unknown key; did you mean 'voice'? It is "
                             "a top-level key: move it above the first [table]")
    assert "'turn_detection.threshold': 3 is out of range" in lines[2]
    assert "must be a whole number, got 'long'" in lines[3]


def test_an_unknown_region_does_not_hide_the_files_other_mistakes():
    path = config_path()
    path.parent.mkdir(parents=True)
    path.write_text('region = "moon"\nvoise = "Tina"\n', encoding="utf-8")
    result = runner.invoke(app, ["config", "show"])
    assert result.exit_code == 2
    lines = result.stderr.splitlines()
    assert len(lines) == 2 and "unknown region 'moon'" in lines[0]
    assert lines[1].endswith(":2, key 'voise': unknown key; did you mean 'voice'?")
