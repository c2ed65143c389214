"""When the emulated model calls functions, and what it says once the outputs are back.

The rule (docs/emulator.md), deterministic so tests and demos can rely on it. A response calls
functions only if the session declares ``tools`` (and ``tool_choice`` is not "none"):

1. A ``--reply-script`` line of the form ``call NAME ARGS`` (several joined by `` && ``)
   is that call: ``NAME`` verbatim (even one that is not declared), ``ARGS`` verbatim as the
   arguments text (``{}`` when empty; invalid JSON is sent as it is).
2. Otherwise the user's turn (typed text, or the input transcript of an audio turn) is read:
   text that starts with ``call NAME ARGS`` is taken the same way; else every declared tool
   whose name appears in the text as a whole word is called with ``{}``, in order of
   appearance (the real capture asks "call test_color and test_shape" and gets both).

When the client has sent ``function_call_output`` items since the last response, the next
response answers from them: ``The tool said: OUTPUT.`` (``The tools said: A; B.``).
"""

from __future__ import annotations

import json
import random
import re
import string
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

CALL_LINE = re.compile(r"^\s*call\s+([A-Za-z0-9_.:-]{1,64})\s*(.*)$", re.DOTALL)
SEPARATOR = " && "
ANSWER_OUTPUT_CHARS = 200  # each output is quoted up to here in the answer
OBFUSCATION_CHARS = 16  # the real delta's obfuscation pads delta + padding to about this


@dataclass(frozen=True)
class PlannedCall:
    name: str
    arguments: str


def declared_names(config: Mapping[str, Any]) -> list[str]:
    """The function names a session declares (empty when tool_choice is "none")."""
    if config.get("tool_choice") == "none":
        return []
    names = []
    for tool in config.get("tools") or []:
        function = tool.get("function") if isinstance(tool, dict) else None
        name = (function or tool).get("name") if isinstance(tool, dict) else None
        if isinstance(name, str) and name:
            names.append(name)
    return names


def parse_call_line(text: str) -> list[PlannedCall] | None:
    """``call a {..} && call b`` -> the calls; None if ``text`` is not a call line."""
    calls = []
    for part in text.strip().split(SEPARATOR):
        match = CALL_LINE.match(part)
        if match is None:
            return None
        calls.append(PlannedCall(match.group(1), match.group(2).strip() or "{}"))
    return calls or None


def named_calls(text: str, names: Iterable[str]) -> list[PlannedCall]:
    """Every name mentioned in ``text`` as a whole word, in order of appearance."""
    found = []
    for name in names:
        match = re.search(rf"(?<![A-Za-z0-9_]){re.escape(name)}(?![A-Za-z0-9_])", text)
        if match is not None:
            found.append((match.start(), name))
    return [PlannedCall(name, "{}") for _, name in sorted(found)]


def plan_calls(config: Mapping[str, Any], script_line: str | None,
               user_text: str) -> list[PlannedCall]:
    """The calls this response makes (empty: it answers in words)."""
    names = declared_names(config)
    if not names:
        return []
    if script_line is not None:
        scripted = parse_call_line(script_line)
        if scripted:
            return scripted
    return parse_call_line(user_text) or named_calls(user_text, names)


def answer_from_outputs(outputs: list[str]) -> str:
    """What the model says once the function outputs are back."""
    quoted = [_quote(output) for output in outputs]
    if len(quoted) == 1:
        return f"The tool said: {quoted[0]}."
    return f"The tools said: {'; '.join(quoted)}."


def _quote(output: str) -> str:
    text = " ".join(output.split())
    try:  # {"error": "..."} -> the error text, as a model would read it out
        value = json.loads(text)
        if isinstance(value, dict) and isinstance(value.get("error"), str):
            text = "error: " + value["error"]
    except ValueError:
        pass
    return text[:ANSWER_OUTPUT_CHARS]


def obfuscation(delta: str) -> str:
    """The ``obfuscation`` padding of a ``function_call_arguments.delta`` (random letters,
    as the real service sends, so deltas of different lengths look alike on the wire)."""
    size = max(2, OBFUSCATION_CHARS - len(delta))
    return "".join(random.choices(string.ascii_letters + string.digits, k=size))
