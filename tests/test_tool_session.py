"""Tools in a conversation: the real engine, the real emulator (which calls functions by the
rule in docs/emulator.md) and ``ToolSession`` - what ``talk`` and ``ptt`` run."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from test_engine_support import finished, make_engine, wait_until, write_wav
from typer.testing import CliRunner

from omnichat.cli import app
from omnichat.engine import updates as up
from omnichat.session.tools import ToolOptions, ToolSession, parse_tool_names
from omnichat.tools import Tool, ToolsConfig
from omnichat.transcript import TranscriptWriter, read_transcript

WAIT_S = 15.0
CITY = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}


class KeyPrompt:
    """The keyboard's y/n hook as ptt's ``session.keys.ConfirmPrompt`` offers it: ``ask``
    blocks the runner's thread, ``answer`` is what the key thread calls for y/n."""

    def __init__(self) -> None:
        self.questions: list[str] = []
        self._asked = threading.Event()
        self._answered = threading.Event()
        self._answer = False

    @property
    def waiting(self) -> bool:
        return self._asked.is_set() and not self._answered.is_set()

    def ask(self, text: str, timeout_s: float = WAIT_S) -> bool:
        self.questions.append(f"{text} [y/n]")
        self._answered.clear()
        self._asked.set()
        answered = self._answered.wait(timeout_s)
        self._asked.clear()
        return answered and self._answer

    def answer(self, yes: bool) -> bool:
        if not self.waiting:
            return False
        self._answer = yes
        self._answered.set()
        return True


def tool(name: str, handler, **fields) -> Tool:
    return Tool(name, f"The {name} tool.", fields.pop("parameters", {"type": "object"}),
                handler, **fields)


class Chat:
    """An engine (text only) with a ToolSession, against the emulator; collects updates."""

    def __init__(self, emu, tools: list[Tool], tmp_path: Path, *, yes: bool = False,
                 prompt: KeyPrompt | None = None, timeout_s: float = 10.0,
                 session: ToolSession | None = None) -> None:
        self.emu = emu
        self.writer = TranscriptWriter(tmp_path / "t.jsonl")
        self.tools = session or ToolSession(ToolsConfig(timeout_s=timeout_s),
                                            ToolOptions(yes=yes))
        self.tools.writer = self.writer
        for item in tools:
            self.tools.box.registry.add(item)
        self.engine = make_engine(emu, modalities=["text"], on_turn=self.writer.write,
                                  engine_options=self.tools.engine_callbacks(),
                                  **self.tools.session_fields())
        self.tools.attach(self.engine)
        self.seen: list[up.Update] = []
        self.engine.start()
        self.tools.prompt = prompt  # as talk does once its key session exists

    def say(self, text: str) -> str:
        """Type ``text``; the assistant's final answer (after any tool round)."""
        self.engine.send_text(text)
        return self.answer()

    def answer(self) -> str:
        """Poll (keeping every update) until a worded assistant turn and idleness."""
        text = None
        deadline = time.monotonic() + WAIT_S
        while time.monotonic() < deadline:
            for update in self.engine.poll(0.05):
                self.seen.append(update)
                if isinstance(update, up.Failed):
                    raise update.error
                if finished("assistant")(update) and update.turn.text:  # type: ignore[attr-defined]
                    text = update.turn.text  # type: ignore[attr-defined]
            if text is not None and self.engine.is_idle():
                return text
        raise AssertionError(f"no answer within {WAIT_S} s; seen {self.seen}")

    def wait_notice(self, start: str, timeout_s: float) -> None:
        wait_until(self.engine, lambda: any(n.startswith(start) for n in self.notices()),
                   timeout_s, self.seen)

    def notices(self) -> list[str]:
        return [u.text for u in self.seen if isinstance(u, up.Notice)]

    def outputs(self) -> list[dict]:
        """The function_call_output items the emulator received."""
        return [e.item for e in self.emu.session.received
                if e.type == "conversation.item.create"
                and e.item.get("type") == "function_call_output"]

    def records(self) -> list[dict]:
        return [r for r in read_transcript(self.writer.path) if r["role"] == "tool"]

    def close(self) -> None:
        try:
            self.engine.close()
        finally:
            self.tools.close()
            self.writer.close()


@pytest.fixture
def chat(emulator, tmp_path):
    made: list[Chat] = []

    def make(tools: list[Tool], **options) -> Chat:
        made.append(Chat(emulator, tools, tmp_path, **options))
        return made[-1]

    yield make
    for item in made:
        item.close()


def test_one_call_is_run_answered_shown_and_recorded(chat):
    weather = tool("get_weather", lambda args: f"sunny in {args['city']}", parameters=CITY)
    c = chat([weather])
    assert c.say('call get_weather {"city": "Paris"}') == "The tool said: sunny in Paris."
    [output] = c.outputs()
    assert output["output"] == "sunny in Paris"
    assert any(n.startswith('tool get_weather({"city": "Paris"})') for n in c.notices())
    assert any(n == "tool get_weather: ok: sunny in Paris" for n in c.notices())
    [record] = c.records()
    assert record["name"] == "get_weather" and record["status"] == "ok"
    assert record["arguments"] == '{"city": "Paris"}' and record["output"] == "sunny in Paris"
    assert record["call_id"] == output["call_id"]
    # Exactly one response.create after the output, none before it.
    received = c.emu.session.received_types
    after = received[received.index("conversation.item.create", 2):]
    assert after.count("response.create") == 1


def test_two_calls_of_one_response_run_at_the_same_time(chat):
    both = threading.Barrier(2, timeout=WAIT_S)  # only passes if both run concurrently

    def meet(label: str):
        return lambda args: (both.wait(), label)[1]

    c = chat([tool("test_color", meet("blue")), tool("test_shape", meet("square"))])
    answer = c.say("Use test_color and test_shape, in one round.")
    assert answer == "The tools said: blue; square."
    assert [o["output"] for o in c.outputs()] == ["blue", "square"]


@pytest.mark.parametrize(("typed", "said"), [
    ("call no_such_tool {}", "The tool said: error: unknown tool 'no_such_tool'."),
    ("call get_weather {city", "The tool said: error: arguments are not valid JSON"),
    ('call get_weather {"town": 1}', "The tool said: error: "),
])
def test_a_bad_call_is_answered_with_an_error_and_the_talk_goes_on(chat, typed, said):
    ran: list[dict] = []
    c = chat([tool("get_weather", lambda args: ran.append(args) or "x", parameters=CITY)])
    assert c.say(typed).startswith(said)
    assert not ran and c.records()[0]["status"] in ("unknown", "bad_arguments")
    assert c.say("hello").startswith("I read")  # the conversation goes on


def test_a_slow_tool_times_out_and_a_failing_one_reports_its_error(chat):
    never = threading.Event()

    def explode(args):
        raise ValueError("boom")

    c = chat([tool("slow", lambda args: never.wait(WAIT_S) and "late"),
              tool("explode", explode)], timeout_s=0.2)
    try:
        answer = c.say("call slow {} && call explode {}")
    finally:
        never.set()
    # The outputs go back in the order of the calls, though the failure came first.
    assert answer == ("The tools said: error: tool 'slow' timed out after 0.2 s; "
                      "error: tool 'explode' failed: ValueError: boom.")
    assert [r["status"] for r in sorted(c.records(), key=lambda r: r["name"])] == \
        ["error", "timeout"]


def test_barge_in_during_a_tool_run_drops_its_late_result(chat):
    started, release = threading.Event(), threading.Event()

    def lookup(args):
        started.set()
        release.wait(WAIT_S)
        return "too late"

    c = chat([tool("lookup", lookup)])
    try:
        c.engine.send_text("call lookup {}")
        assert started.wait(WAIT_S)
        wait_until(c.engine, lambda: bool(c.tools.running()), WAIT_S, c.seen)
        [run] = c.tools.running()
        assert c.say("never mind").startswith("I read 2 words")  # the user moved on
        assert c.tools.running() == []
    finally:
        release.set()
    assert run.join(WAIT_S)
    assert c.say("hello").startswith("I read")  # anything sent late would be in by now
    assert c.outputs() == []
    assert c.records()[0]["status"] == "cancelled"
    assert any("cancelled (you moved on)" in n for n in c.notices())


def test_a_confirmed_tool_is_refused_when_not_interactive(chat):
    ran: list[dict] = []
    c = chat([tool("erase", lambda args: ran.append(args) or "erased", confirm=True)])
    assert c.say("call erase {}") == "The tool said: error: the user did not allow 'erase' to run."
    assert not ran and c.records()[0]["status"] == "refused"


def test_yes_runs_a_confirmed_tool_without_asking(chat):
    c = chat([tool("erase", lambda args: "erased", confirm=True)], yes=True)
    assert c.say("call erase {}") == "The tool said: erased."


@pytest.mark.parametrize("allow", [True, False])
def test_the_live_view_asks_and_the_key_answers(chat, allow):
    prompt = KeyPrompt()
    ran: list[dict] = []
    c = chat([tool("erase", lambda args: ran.append(args) or "erased", confirm=True)],
             prompt=prompt)
    c.engine.send_text('call erase {"all": true}')
    wait_until(c.engine, lambda: prompt.waiting, WAIT_S, c.seen)
    assert not ran  # nothing runs while the question is open
    assert prompt.answer(allow)  # what the key handler does for y / n
    expected = ("The tool said: erased." if allow
                else "The tool said: error: the user did not allow 'erase' to run.")
    assert c.answer() == expected
    assert prompt.questions == ['allow tool erase({"all": true})? [y/n]']
    assert len(ran) == int(allow) and c.records()[0]["status"] == ("ok" if allow else "refused")


def test_a_tool_that_needs_no_confirmation_does_not_ask(chat):
    prompt = KeyPrompt()
    c = chat([tool("get_weather", lambda args: "rain", parameters=CITY)], prompt=prompt)
    assert c.say('call get_weather {"city": "Oslo"}') == "The tool said: rain."
    assert prompt.questions == []


def test_tool_names_from_the_flag_are_checked():
    from omnichat.errors import UsageError

    assert parse_tool_names("time, calculator") == ("time", "calculator")
    assert parse_tool_names(None) is None
    with pytest.raises(UsageError, match="--tools: unknown built-in tool 'weather'"):
        parse_tool_names("time,weather")


def test_withdrawn_tools_stay_withdrawn_after_a_reconnect(chat):
    from omnichat.tools.mcp_client import ServerChange

    c = chat([tool("get_weather", lambda args: "x", parameters=CITY, source="mcp:fx")])
    c.tools.box.registry.withdraw("mcp:fx")  # what the MCP hub does when a server dies
    c.tools.on_server_change(ServerChange("fx", False, "MCP server 'fx' stopped: gone; "
                                          "its tools are withdrawn", ("get_weather",)))
    update = c.emu.session.wait_for("session.update", direction="received", count=2,
                                    timeout=WAIT_S)
    assert update.session["tools"] == [] and update.session["modalities"] == ["text"]
    c.engine.reconnect()
    second = c.emu.wait_for_connection(timeout=WAIT_S, index=1)
    replayed = second.wait_for("session.update", direction="received", timeout=WAIT_S)
    assert replayed.session["tools"] == [] and replayed.session["modalities"] == ["text"]
    c.wait_notice("MCP server 'fx' stopped: gone; its tools are withdrawn", WAIT_S)


@pytest.mark.parametrize(("flags", "words"), [
    (["--attach", "missing.txt"], "--attach missing.txt: no such file"),
    (["--tools", "time,weather"], "--tools: unknown built-in tool 'weather'"),
])
def test_a_bad_tool_flag_is_one_line_and_exit_2(tmp_path, monkeypatch, flags, words):
    monkeypatch.chdir(tmp_path)
    question = write_wav(tmp_path / "q.wav", bytes(3200))
    result = CliRunner().invoke(app, ["talk", "--local", "--input", str(question), *flags])
    assert result.exit_code == 2, result.output
    assert words in result.output and "Traceback" not in result.output


def test_a_running_tool_keeps_the_conversation_busy(chat):
    # A file session (talk --input) ends once the conversation is idle: not mid-tool.
    started, release = threading.Event(), threading.Event()

    def slow(args):
        started.set()
        release.wait(WAIT_S)
        return "done"

    c = chat([tool("slow", slow)])
    try:
        c.engine.send_text("call slow {}")
        assert started.wait(WAIT_S)
        # The response that made the call is over (its empty assistant turn is final).
        wait_until(c.engine, lambda: any(finished("assistant")(u) for u in c.seen),
                   WAIT_S, c.seen)
        assert not c.engine.is_idle()
    finally:
        release.set()
    assert c.answer() == "The tool said: done."
