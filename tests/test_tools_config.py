"""The [tools] and [mcp.servers.NAME] tables: what is accepted, and one line for what is not."""

from __future__ import annotations

import sys

import pytest

from omnichat.errors import ConfigError, UsageError
from omnichat.tools.config import parse_tools_config
from omnichat.tools.toolbox import Toolbox

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib

EXAMPLE = """
[tools]
builtin = ["time", "calculator"]
timeout_s = 5
max_output_bytes = 4096
confirm = ["calculate"]
disabled = ["current_time"]
timezone = "Asia/Tokyo"

[mcp.servers.files]
command = "npx"
args = ["-y", "@modelcontextprotocol/server-filesystem", "/tmp"]
env = { DEBUG = "1" }

[mcp.servers.search]
url = "https://example.com/mcp"
headers = { Authorization = "Bearer sk-secret" }
confirm = true
tools = ["web_search"]
"""


def _parse(text: str):
    data = tomllib.loads(text)
    return parse_tools_config(data.get("tools"), data.get("mcp"), origin="config.toml")


def test_the_documented_example_parses():
    config = _parse(EXAMPLE)
    assert (config.builtin, config.timeout_s, config.max_output_bytes) == (
        ("time", "calculator"), 5.0, 4096)
    files, search = config.servers
    assert (files.name, files.command, files.args, dict(files.env)) == (
        "files", "npx", ("-y", "@modelcontextprotocol/server-filesystem", "/tmp"), {"DEBUG": "1"})
    assert files.timeout_s == 5.0  # inherited from [tools]
    assert (search.url, search.confirm, search.tools, search.source) == (
        "https://example.com/mcp", True, ("web_search",), "mcp:search")
    assert "sk-secret" not in repr(search)


def test_no_tables_means_no_tools():
    config = parse_tools_config(None, None)
    assert (config.builtin, config.servers) == ((), ())
    assert Toolbox(config).session_fields() == {"tools": []}


def test_the_toolbox_applies_enable_disable_and_confirm():
    with Toolbox(_parse(EXAMPLE.split("[mcp")[0])) as box:
        assert [t["function"]["name"] for t in box.session_fields()["tools"]] == ["calculate"]
        assert box.registry.get("calculate").needs_confirmation
        assert box.start() == []  # no MCP servers configured


@pytest.mark.parametrize("text, message", [
    ("[tools]\nbuiltin = ['shell']",
     "config.toml: [tools] 'builtin': unknown built-in 'shell'; choose from time, calculator"),
    ("[tools]\ntimeout_s = 0", "config.toml: [tools] 'timeout_s': must be a number greater than 0"),
    ("[tools]\nmax_output_bytes = 10",
     "config.toml: [tools] 'max_output_bytes': must be a whole number of at least 256"),
    ("[tools]\ntool_choice = 'always'",
     "config.toml: [tools] 'tool_choice': must be one of auto, none"),
    ("[tools]\ntimeuot_s = 3", "config.toml: [tools] 'timeuot_s': unknown key; known keys: "),
    ("[mcp.servers.x]\nargs = ['a']",
     "config.toml: [mcp.servers.x] 'command': give exactly one of"),
    ("[mcp.servers.x]\ncommand = 'a'\nurl = 'http://h'", "[mcp.servers.x] 'command': give exactly"),
    ("[mcp.servers.x]\ncommand = 'a'\nargs = 'b c'",
     "[mcp.servers.x] 'args': must be a list of strings"),
    ("[mcp.servers.x]\ncommand = 'a'\nenv = { A = 1 }",
     "[mcp.servers.x] 'env': must be a table of strings"),
    ("[mcp.servers.x]\nurl = 'ftp://h'",
     "[mcp.servers.x] 'url': must start with http:// or https://"),
    ("[mcp.servers.x]\ncommand = 'a'\nenabled = 'yes'",
     "[mcp.servers.x] 'enabled': must be true or false"),
    ("[mcp.servers.'a b']\ncommand = 'a'", "[mcp.servers.a b]: the server name may use letters"),
    ("[mcp]\nservers = 3", "config.toml: [mcp] 'servers': must be a table"),
])
def test_a_bad_table_is_one_line_naming_table_and_key(text, message):
    with pytest.raises(ConfigError) as caught:
        _parse(text)
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_an_unknown_time_zone_is_a_config_error():
    with pytest.raises(ConfigError, match="unknown time zone 'Mars/Olympus'"):
        Toolbox(_parse("[tools]\nbuiltin = ['time']\ntimezone = 'Mars/Olympus'"))


def test_mcp_servers_without_the_sdk_say_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "mcp", None)  # import mcp -> ImportError
    config = _parse("[mcp.servers.files]\ncommand = 'npx'")
    with Toolbox(config) as box, pytest.raises(UsageError) as caught:
        box.start()
    assert str(caught.value) == ("MCP servers are configured but the 'mcp' package is not "
                                 "installed; run: pip install 'omnichat[mcp]'")
