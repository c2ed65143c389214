"""The built-in tools, harmless by design and off unless enabled.

- ``current_time`` (id ``time``): the date and time in the user's time zone.
- ``calculate`` (id ``calculator``): arithmetic through the safe evaluator in ``calculator``.
- ``read_attachment`` (offered only when the user named files with ``--attach``): the text of
  one of exactly those files, size-capped; no other path can be read.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime, tzinfo
from pathlib import Path
from typing import Any

from omnichat.errors import UsageError
from omnichat.sanitize import clean_text
from omnichat.tools.calculator import MAX_EXPRESSION_CHARS, evaluate
from omnichat.tools.registry import Tool

BUILTIN_IDS = ("time", "calculator")
MAX_ATTACHMENT_BYTES = 64 * 1024


def builtin_tools(enabled: Iterable[str], attachments: Sequence[Path] = (), *,
                  tz: tzinfo | None = None,
                  now: Callable[[tzinfo | None], datetime] | None = None) -> list[Tool]:
    """The built-in tools for the ids in ``enabled`` (see ``BUILTIN_IDS``), plus
    ``read_attachment`` when ``attachments`` is not empty."""
    wanted = set(enabled)
    unknown = wanted - set(BUILTIN_IDS)
    if unknown:
        raise UsageError(f"unknown built-in tool '{sorted(unknown)[0]}'; "
                         f"choose from: {', '.join(BUILTIN_IDS)}")
    tools = []
    if "time" in wanted:
        tools.append(clock_tool(tz, now or (lambda zone: datetime.now(zone))))
    if "calculator" in wanted:
        tools.append(calculator_tool())
    if attachments:
        tools.append(attachment_tool(attachments))
    return tools


def clock_tool(tz: tzinfo | None, now: Callable[[tzinfo | None], datetime]) -> Tool:
    def current_time(arguments: dict[str, Any]) -> str:
        moment = now(tz)
        moment = moment.astimezone(tz) if tz is not None else moment.astimezone()
        return json.dumps({"datetime": moment.isoformat(timespec="seconds"),
                           "weekday": moment.strftime("%A"),
                           "timezone": moment.tzname() or ""})

    return Tool("current_time", "The current date, time, weekday and time zone of the user.",
                {"type": "object", "properties": {}}, current_time)


def calculator_tool() -> Tool:
    def calculate(arguments: dict[str, Any]) -> str:
        return json.dumps({"result": evaluate(arguments["expression"])})

    parameters = {"type": "object", "required": ["expression"], "properties": {
        "expression": {"type": "string", "maxLength": MAX_EXPRESSION_CHARS,
                       "description": "Arithmetic, e.g. '(17 + 5) * 3 / 4' or 'sqrt(2) ** 3'"}}}
    return Tool("calculate", "Evaluate an arithmetic expression exactly; use it for any "
                "calculation.", parameters, calculate)


def check_attachments(paths: Sequence[Path]) -> list[Path]:
    """The ``--attach`` files resolved; ``UsageError`` naming the first that is not a
    readable regular file."""
    resolved = []
    for path in paths:
        shown = clean_text(str(path), keep_newlines=False)
        if not path.is_file():
            raise UsageError(f"--attach {shown}: no such file (give the path of a text file)")
        if not os.access(path, os.R_OK):
            raise UsageError(f"--attach {shown}: not readable (check its permissions)")
        resolved.append(path.resolve())
    return resolved


def attachment_tool(paths: Sequence[Path]) -> Tool:
    """Reads one of ``paths``, chosen by the label the model sees (the file name)."""
    files: dict[str, Path] = {}
    for path in paths:
        label = path.name if path.name not in files else str(path)
        files[label] = path

    def read_attachment(arguments: dict[str, Any]) -> str:
        path = files[arguments["file"]]  # the schema's enum admits only these labels
        with path.open("rb") as stream:
            data = stream.read(MAX_ATTACHMENT_BYTES + 1)
        if b"\0" in data[:4096]:
            raise ValueError(f"{path.name} is not a text file")
        text = data[:MAX_ATTACHMENT_BYTES].decode("utf-8", errors="replace")
        if len(data) > MAX_ATTACHMENT_BYTES:
            text += f"\n[file truncated after {MAX_ATTACHMENT_BYTES} bytes]"
        return text

    parameters = {"type": "object", "required": ["file"], "additionalProperties": False,
                  "properties": {"file": {"type": "string", "enum": list(files),
                                          "description": "Which attached file to read"}}}
    description = ("Read a text file the user attached to this conversation: "
                   + ", ".join(files))
    return Tool("read_attachment", description, parameters, read_attachment)
