"""MCP servers as tools: a real stdio server (tests/mcp_server_fixture.py, written with the
``mcp`` SDK) is started, its tools listed and called; its crash is survived and reported."""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("mcp", reason="the optional 'mcp' extra is not installed")

from omnichat.tools.calls import FunctionCall
from omnichat.tools.config import McpServerConfig, parse_tools_config
from omnichat.tools.mcp_client import McpHub, ServerChange
from omnichat.tools.registry import ToolRegistry
from omnichat.tools.runner import ToolRunner
from omnichat.tools.toolbox import Toolbox

FIXTURE = str(Path(__file__).parent / "mcp_server_fixture.py")
pytestmark = pytest.mark.subprocess  # omnichat starts the MCP servers (tests/tiers.py)
# Generous: importing the SDK in the server takes seconds on a loaded 2-core machine.
STARTUP_S = 60.0
WAIT_S = 30.0


def _server(name: str, prefix: str = "", **overrides) -> McpServerConfig:
    fields = {"command": sys.executable, "args": (FIXTURE,),
              "env": {"MCP_FIXTURE_PREFIX": prefix}, "timeout_s": 20.0,
              "startup_timeout_s": STARTUP_S} | overrides
    return McpServerConfig(name, **fields)


class Servers:
    """Two fixture servers for the module: ``main`` over stdio (tools echo, add...) and
    ``victim`` over streamable HTTP (tools v_echo, v_pid...), which one test kills."""

    def __init__(self) -> None:
        self.registry = ToolRegistry()
        self.changes: queue.Queue[ServerChange] = queue.Queue()
        # Checked twice a second, so a dead server is noticed without a call.
        self.hub = McpHub(self.registry, on_change=self.changes.put, ping_interval_s=0.5)
        # Both servers import the SDK at the same time; the HTTP one prints its port first.
        self.victim = subprocess.Popen([sys.executable, FIXTURE, "--http"], text=True,
                                       stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                       env=os.environ | {"MCP_FIXTURE_PREFIX": "v_"})
        self.started = self.hub.start([_server("main")])
        url = f"http://127.0.0.1:{int(self.victim.stdout.readline())}/mcp"
        self.started += self.hub.start([McpServerConfig("victim", url=url, timeout_s=20.0,
                                                        startup_timeout_s=STARTUP_S)])

    def run(self, name: str, arguments: dict, **runner_options) -> tuple[str, str]:
        runner = ToolRunner(self.registry, **runner_options)
        [result] = runner.run([FunctionCall("call_1", name, json.dumps(arguments), "resp_1")])
        return result.status, result.output

    def close(self) -> None:
        try:
            self.hub.close()
        finally:
            self.victim.kill()
            self.victim.wait(WAIT_S)
            self.victim.stdout.close()


@pytest.fixture(scope="module")
def servers():
    started = Servers()
    try:
        yield started
    finally:
        started.close()


def test_both_servers_start_and_list_their_tools(servers):
    assert [(c.server, c.up) for c in servers.started] == [("main", True), ("victim", True)]
    assert servers.started[0].message == "MCP server 'main': 6 tools"
    tools = {t.name: t for t in servers.registry.tools()}
    assert {"echo", "add", "erase", "v_echo", "v_pid"} <= set(tools)
    assert tools["add"].source == "mcp:main"
    assert tools["add"].parameters["required"] == ["a", "b"]
    schema = {t["function"]["name"]: t for t in servers.registry.session_fields()["tools"]}
    assert schema["add"]["function"]["description"] == "Add two integers."


def test_a_tool_is_called_through_the_server(servers):
    assert servers.run("add", {"a": 2, "b": 40}) == ("ok", "42")
    assert servers.run("echo", {"text": "héllo"}) == ("ok", "echo: héllo")


def test_the_servers_schema_is_checked_before_calling(servers):
    status, output = servers.run("add", {"a": "two", "b": 1})
    assert status == "bad_arguments"
    assert json.loads(output) == {"error": "arguments.a must be integer, not string"}


def test_a_failing_tool_is_answered_with_an_error(servers):
    status, output = servers.run("explode", {})
    assert status == "error"
    assert "Error executing tool explode" in json.loads(output)["error"]


def test_a_destructive_tool_asks_first(servers):
    assert servers.registry.get("erase").needs_confirmation
    assert not servers.registry.get("echo").needs_confirmation  # read-only hint
    assert servers.run("erase", {"note": "n1"})[0] == "refused"  # non-interactive
    assert servers.run("erase", {"note": "n1"}, confirm=lambda c, t: True) == ("ok", "erased n1")


def test_a_tool_that_never_answers_times_out_and_the_server_stays(servers):
    status, output = servers.run("wait_forever", {}, timeout_s=0.5)
    assert status == "timeout"
    assert servers.hub.cancel_calls() == 1  # what a barge-in does; frees the waiting thread
    assert servers.run("echo", {"text": "still here"}) == ("ok", "echo: still here")


def test_the_http_server_is_called_too(servers):
    assert servers.registry.get("v_add").source == "mcp:victim"
    assert servers.run("v_add", {"a": 1, "b": 2}) == ("ok", "3")


def test_a_crashed_server_is_reported_once_and_its_tools_withdrawn(servers):
    status, pid = servers.run("v_pid", {})
    assert status == "ok" and int(pid) == servers.victim.pid
    os.kill(int(pid), signal.SIGKILL)
    change = servers.changes.get(timeout=WAIT_S)  # noticed by the hub's own check
    assert (change.server, change.up) == ("victim", False)
    assert change.message.startswith(("MCP server 'victim' stopped", "MCP server 'victim' failed"))
    assert change.message.endswith("; its tools are withdrawn")
    assert "\n" not in change.message
    assert set(change.tools) >= {"v_echo", "v_pid"}
    names = [t["function"]["name"] for t in servers.registry.session_fields()["tools"]]
    assert "v_echo" not in names and "echo" in names
    assert servers.run("v_echo", {"text": "x"})[0] == "unknown"
    assert servers.run("echo", {"text": "the other one"}) == ("ok", "echo: the other one")


def test_a_command_that_does_not_exist_is_one_line():
    with McpHub(ToolRegistry()) as hub:
        [change] = hub.start([McpServerConfig("ghost", command="/nonexistent/mcp-server")])
    assert not change.up
    assert change.message.startswith("MCP server 'ghost' could not start: command not found")
    assert change.message.endswith("; its tools are off")
    assert "\n" not in change.message


def test_a_server_that_exits_at_start_is_one_line():
    with McpHub(ToolRegistry()) as hub:
        [change] = hub.start([McpServerConfig("quitter", command=sys.executable,
                                              args=("-c", "pass"))])
    assert not change.up
    assert change.message.startswith("MCP server 'quitter' failed: ")
    assert change.message.endswith("; its tools are off")
    assert "\n" not in change.message


def test_a_server_that_hangs_at_start_is_given_up_on():
    silent = McpServerConfig("mute", command=sys.executable,
                             args=("-c", "import sys; sys.stdin.read()"), startup_timeout_s=1.0)
    registry = ToolRegistry()
    with McpHub(registry) as hub:
        [change] = hub.start([silent])
    assert (change.up, change.message) == (
        False, "MCP server 'mute' did not start within 1 s; its tools are off")
    assert registry.tools() == []


def test_the_toolbox_keeps_its_built_ins_when_a_server_is_missing():
    config = parse_tools_config({"builtin": ["calculator"]},
                                {"servers": {"ghost": {"command": "/nonexistent/server"}}})
    with Toolbox(config) as box:
        [change] = box.start()
        assert not change.up
        assert [t["function"]["name"] for t in box.session_fields()["tools"]] == ["calculate"]
        rows = [(r.name, r.source, r.enabled) for r in box.rows()]
    assert rows == [("calculate", "builtin", True), ("-", "mcp:ghost", False)]
