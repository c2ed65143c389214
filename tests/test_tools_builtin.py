"""The built-in tools: the calculator's safety, the clock's time zone, attached files only."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from io import StringIO
from pathlib import Path

import pytest
from rich.console import Console

from omnichat.errors import UsageError
from omnichat.tools.builtin import (
    MAX_ATTACHMENT_BYTES,
    builtin_tools,
    check_attachments,
)
from omnichat.tools.calculator import CalculatorError, evaluate
from omnichat.tools.calls import FunctionCall
from omnichat.tools.listing import list_tools, render_tools
from omnichat.tools.registry import Tool, ToolRegistry
from omnichat.tools.runner import ToolRunner


@pytest.mark.parametrize("expression, value", [
    ("1 + 2 * 3", 7), ("(1 + 2) * 3", 9), ("7 // 2", 3), ("7 % 4", 3), ("2 ** 10", 1024),
    ("-3 + +5", 2), ("10 / 4", 2.5), ("sqrt(16)", 4.0), ("max(1, 7, 3)", 7),
    ("round(pi, 2)", 3.14), ("2 ** 1000 > 0 or 1", None),
])
def test_the_calculator_does_arithmetic(expression, value):
    if value is None:
        with pytest.raises(CalculatorError):
            evaluate(expression)  # comparisons are not arithmetic
    else:
        assert evaluate(expression) == value


@pytest.mark.parametrize("expression, reason", [
    ("__import__('os').system('true')", "is not allowed"),
    ("(1).__class__", "is not allowed"),
    ("x + 1", "'x' is not allowed"),
    ("open('/etc/passwd')", "is not allowed"),
    ("[1, 2][0]", "is not allowed"),
    ("'a' * 3", "is not allowed"),
    ("9 ** 9 ** 9", "larger than"),
    ("2 ** 5000", "larger than"),
    ("255 ** 999", "too large"),
    ("10 ** 999 * 10 ** 999 * 10 ** 999", "too large"),
    ("1 / 0", "cannot compute"),
    ("exp(1000)", "cannot compute"),
    ("1" + " + 1" * 100, "longer than"),
    ("1 +", "not an arithmetic expression"),
    ("(-8) ** 0.5", "not a number"),
    ("True + 1", "is not allowed"),
])
def test_the_calculator_refuses_anything_but_bounded_arithmetic(expression, reason):
    with pytest.raises(CalculatorError, match=reason):
        evaluate(expression)


def _run(tools, name, arguments):
    runner = ToolRunner(ToolRegistry(tools))
    [result] = runner.run([FunctionCall("c", name, json.dumps(arguments), "r")])
    return result


def test_the_calculator_tool_answers_with_the_result_or_the_reason():
    tools = builtin_tools(["calculator"])
    assert json.loads(_run(tools, "calculate", {"expression": "6 * 7"}).output) == {"result": 42}
    refused = _run(tools, "calculate", {"expression": "__import__('os')"})
    assert refused.status == "error" and "is not allowed" in refused.output


def test_the_clock_tells_the_time_in_the_users_zone():
    zone = timezone(timedelta(hours=9), "JST")
    fixed = datetime(2026, 12, 1, 0, 30, tzinfo=timezone.utc)
    tools = builtin_tools(["time"], tz=zone, now=lambda tz: fixed)
    answer = json.loads(_run(tools, "current_time", {}).output)
    assert answer == {"datetime": "2026-12-01T09:30:00+09:00", "weekday": "Tuesday",
                      "timezone": "JST"}


def test_built_ins_are_off_unless_enabled(tmp_path):
    assert builtin_tools([]) == []
    with pytest.raises(UsageError, match="unknown built-in tool 'shell'"):
        builtin_tools(["shell"])


def test_an_attached_file_is_read_and_no_other(tmp_path):
    notes = tmp_path / "notes.txt"
    notes.write_text("buy milk\n", encoding="utf-8")
    (tmp_path / "secret.txt").write_text("hunter2", encoding="utf-8")
    tools = builtin_tools([], check_attachments([notes]))
    assert _run(tools, "read_attachment", {"file": "notes.txt"}).output == "buy milk\n"
    for other in ("secret.txt", str(tmp_path / "secret.txt"), "../secret.txt"):
        result = _run(tools, "read_attachment", {"file": other})
        assert result.status == "bad_arguments" and "hunter2" not in result.output


def test_a_large_attachment_is_cut_and_a_binary_one_refused(tmp_path):
    big, blob = tmp_path / "big.txt", tmp_path / "blob.bin"
    big.write_text("a" * (MAX_ATTACHMENT_BYTES + 10), encoding="utf-8")
    blob.write_bytes(b"\x00\x01\x02")
    tools = builtin_tools([], [big, blob])
    runner = ToolRunner(ToolRegistry(tools), max_output_bytes=2 * MAX_ATTACHMENT_BYTES)
    text = runner.run([FunctionCall("c", "read_attachment", '{"file": "big.txt"}', "r")])[0]
    assert text.output.endswith(f"[file truncated after {MAX_ATTACHMENT_BYTES} bytes]")
    assert "not a text file" in _run(tools, "read_attachment", {"file": "blob.bin"}).output


def test_a_missing_attachment_is_one_line_naming_it(tmp_path):
    with pytest.raises(UsageError, match=r"^--attach .*nope.txt: no such file"):
        check_attachments([tmp_path / "nope.txt"])


def test_the_tools_list_shows_source_enabled_and_confirmation():
    registry = ToolRegistry(builtin_tools(["calculator", "time"]))
    registry.add(Tool("erase", "Erase a note\x1b[31m", {}, lambda a: "", source="mcp:notes",
                      read_only=False))
    registry.configure("current_time", enabled=False)
    rows = list_tools(registry, down={"web": "MCP server 'web' did not start"})
    assert [(r.name, r.source, r.enabled, r.confirm) for r in rows] == [
        ("calculate", "builtin", True, False), ("current_time", "builtin", False, False),
        ("erase", "mcp:notes", True, True), ("-", "mcp:web", False, False)]
    plain = Console(file=StringIO(), width=100, color_system=None)
    render_tools(rows, plain)
    lines = plain.file.getvalue().splitlines()
    assert lines[0].split("\t") == ["function", "turned on by", "source", "enabled",
                                    "asks first", "description"]  # every column named
    assert lines[1].split("\t")[:2] == ["calculate", "--tools calculator"]  # both names
    assert lines[2].split("\t")[:2] == ["current_time", "--tools time"]
    assert lines[3] == "erase\t[mcp.servers.notes]\tmcp:notes\tyes\tyes\tErase a note"
    table = Console(file=StringIO(), width=120, color_system=None, force_terminal=True)
    render_tools(rows, table)
    shown = table.file.getvalue()
    assert "Asks first" in shown and "Enabled" in shown and "--tools calculator" in shown
    assert "\x1b[31m" not in shown


def test_nothing_here_reads_paths_outside_the_attachments():
    # the attachment tool's schema is the whole access control: an enum of labels
    [tool] = builtin_tools([], [Path(__file__)])
    assert tool.parameters["properties"]["file"]["enum"] == [Path(__file__).name]
    assert tool.parameters["additionalProperties"] is False
