"""Running a response's calls: results the model can read for every way a call can go wrong."""

from __future__ import annotations

import json
import threading

import pytest

from omnichat.tools.calls import FunctionCall
from omnichat.tools.registry import Tool, ToolRegistry
from omnichat.tools.runner import ToolRunner

ADD_SCHEMA = {"type": "object", "required": ["a", "b"], "additionalProperties": False,
              "properties": {"a": {"type": "integer"}, "b": {"type": "integer", "maximum": 100}}}


def _call(name: str, arguments: str = "{}", call_id: str = "call_1",
          response_id: str = "resp_1") -> FunctionCall:
    return FunctionCall(call_id, name, arguments, response_id)


def _error(result) -> str:
    return json.loads(result.output)["error"]


@pytest.fixture
def registry():
    def add(args):
        return str(args["a"] + args["b"])

    def explode(args):
        raise ValueError("the disk is on fire")

    return ToolRegistry([
        Tool("add", "Add two integers", ADD_SCHEMA, add),
        Tool("explode", "Always fails", {}, explode),
        Tool("big", "Too much text", {}, lambda args: "é" * 40_000),
        Tool("erase", "Erase a note", {}, lambda args: "erased", confirm=True),
    ])


def test_one_call_is_answered_with_the_tool_output(registry):
    [result] = ToolRunner(registry).run([_call("add", '{"a": 2, "b": 3}')])
    assert (result.status, result.output, result.call_id) == ("ok", "5", "call_1")
    assert result.response_id == "resp_1"


def test_parallel_calls_run_at_the_same_time_and_answer_in_call_order():
    both_started = threading.Barrier(2, timeout=10)

    def meet(label):
        def handler(args):
            both_started.wait()  # deadlocks (BrokenBarrierError) if the calls ran one by one
            return label
        return handler

    registry = ToolRegistry([Tool("color", "", {}, meet("blue")),
                             Tool("shape", "", {}, meet("square"))])
    results = ToolRunner(registry, timeout_s=20).run(
        [_call("color", call_id="c1"), _call("shape", call_id="c2")])
    assert [(r.call_id, r.output) for r in results] == [("c1", "blue"), ("c2", "square")]


def test_calls_sharing_a_call_id_each_get_an_answer(registry):
    results = ToolRunner(registry).run([_call("add", '{"a": 1, "b": 1}', call_id="same"),
                                        _call("add", '{"a": 2, "b": 2}', call_id="same")])
    assert [r.output for r in results] == ["2", "4"]


def test_an_unknown_tool_is_answered_with_an_error(registry):
    [result] = ToolRunner(registry).run([_call("launch_rockets")])
    assert result.status == "unknown"
    assert _error(result) == "unknown tool 'launch_rockets'"


def test_a_disabled_tool_counts_as_unknown(registry):
    registry.configure("add", enabled=False)
    [result] = ToolRunner(registry).run([_call("add", '{"a": 1, "b": 1}')])
    assert result.status == "unknown"


def test_arguments_that_are_not_json_are_answered_with_an_error(registry):
    [result] = ToolRunner(registry).run([_call("add", '{"a": 1,')])
    assert result.status == "bad_arguments"
    assert "not valid JSON" in _error(result)


@pytest.mark.parametrize("arguments, problem", [
    ('{"a": 1}', "arguments.b is required"),
    ('{"a": "1", "b": 2}', "arguments.a must be integer, not string"),
    ('{"a": 1, "b": 200}', "arguments.b must be <= 100"),
    ('{"a": 1, "b": 2, "c": 3}', "arguments.c is not a known parameter"),
    ('[1, 2]', "arguments must be a JSON object"),
])
def test_arguments_that_break_the_schema_are_answered_with_the_problem(registry, arguments,
                                                                        problem):
    [result] = ToolRunner(registry).run([_call("add", arguments)])
    assert (result.status, _error(result)) == ("bad_arguments", problem)


def test_a_call_that_runs_too_long_is_answered_as_timed_out():
    release = threading.Event()
    registry = ToolRegistry([Tool("slow", "", {}, lambda args: release.wait(30) and "late")])
    try:
        [result] = ToolRunner(registry, timeout_s=0.2).run([_call("slow")])
    finally:
        release.set()  # let the abandoned thread end
    assert result.status == "timeout"
    assert _error(result) == "tool 'slow' timed out after 0.2 s"


def test_an_exception_is_answered_with_its_message(registry):
    [result] = ToolRunner(registry).run([_call("explode")])
    assert result.status == "error"
    assert _error(result) == "tool 'explode' failed: ValueError: the disk is on fire"


def test_one_failing_call_does_not_spoil_its_sibling(registry):
    results = ToolRunner(registry).run([_call("explode", call_id="c1"),
                                        _call("add", '{"a": 1, "b": 1}', call_id="c2")])
    assert [r.status for r in results] == ["error", "ok"]


def test_output_is_capped_with_a_marker(registry):
    [result] = ToolRunner(registry, max_output_bytes=1000).run([_call("big")])
    assert len(result.output.encode("utf-8")) <= 1000
    assert result.output.endswith("[output truncated: 80000 bytes, 1000 allowed]")
    assert result.output.startswith("éé")


def test_a_confirmed_call_runs(registry):
    asked = []
    runner = ToolRunner(registry, confirm=lambda call, tool: asked.append(tool.name) or True)
    [result] = runner.run([_call("erase")])
    assert (result.status, result.output, asked) == ("ok", "erased", ["erase"])


def test_a_refused_call_is_answered_as_refused(registry):
    [result] = ToolRunner(registry, confirm=lambda call, tool: False).run([_call("erase")])
    assert result.status == "refused"
    assert _error(result) == "the user did not allow 'erase' to run"


def test_a_broken_prompt_refuses_the_call_and_is_logged_not_swallowed(registry, caplog):
    """Issue 16: the prompt's exception vanished without a trace; it is logged (--debug)."""
    def broken(call, tool):
        raise OSError("the terminal went away")

    with caplog.at_level("DEBUG", logger="omnichat.tools.runner"):
        [result] = ToolRunner(registry, confirm=broken).run([_call("erase")])
    assert result.status == "refused"
    (record,) = [r for r in caplog.records if r.name == "omnichat.tools.runner"]
    assert "confirmation prompt for 'erase' failed" in record.getMessage()
    assert record.exc_info and "the terminal went away" in str(record.exc_info[1])


def test_without_a_prompt_confirmation_is_refused_unless_yes(registry):
    [refused] = ToolRunner(registry).run([_call("erase")])
    [allowed] = ToolRunner(registry, yes=True).run([_call("erase")])
    assert (refused.status, allowed.status) == ("refused", "ok")


def test_tools_that_need_no_confirmation_are_not_asked_about(registry):
    asked = []
    runner = ToolRunner(registry, confirm=lambda call, tool: asked.append(tool.name) or False)
    [result] = runner.run([_call("add", '{"a": 1, "b": 1}')])
    assert (result.status, asked) == ("ok", [])


def test_a_background_run_reports_its_results():
    registry = ToolRegistry([Tool("hello", "", {}, lambda args: "hi")])
    delivered = []
    done = threading.Event()
    run = ToolRunner(registry).start([_call("hello")],
                                     lambda results: (delivered.extend(results), done.set()))
    assert done.wait(10)
    assert run.join(10)
    assert [(r.response_id, r.output) for r in delivered] == [("resp_1", "hi")]


def test_a_cancelled_background_run_delivers_nothing():
    release = threading.Event()
    registry = ToolRegistry([Tool("slow", "", {}, lambda args: release.wait(30) and "late")])
    delivered = []
    run = ToolRunner(registry).start([_call("slow")], delivered.extend)
    run.cancel()  # the user barged in
    release.set()
    assert run.join(10)
    assert delivered == []


def test_the_session_declares_only_enabled_tools(registry):
    registry.configure("big", enabled=False)
    fields = registry.session_fields()
    names = [t["function"]["name"] for t in fields["tools"]]
    assert names == ["add", "explode", "erase"]
    assert fields["tool_choice"] == "auto"
    assert fields["tools"][0] == {"type": "function", "function": {
        "name": "add", "description": "Add two integers", "parameters": ADD_SCHEMA}}


def test_a_clashing_name_gets_its_source_as_prefix():
    registry = ToolRegistry([Tool("search", "", {}, lambda a: "")])
    added = registry.add(Tool("search", "", {}, lambda a: "", source="mcp:web"))
    assert added.name == "web_search"
    assert registry.get("web_search") is not None
