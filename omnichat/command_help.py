"""How ``omnichat --help`` reads: the commands in the order a user meets them, and one style
for what each option takes (a capitalised word, never a Python type such as Typer's default
``<list[Path]>`` or ``<str>``). ``cli.py``'s group applies both as click builds the help.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

# The commands as a user meets them (`omnichat --help`); others go before `bench`.
COMMAND_ORDER = ("talk", "ptt", "ask", "history", "voices", "devices", "doctor", "tools", "config",
                 "bench", "serve")
# One metavar style for every option that takes a value: a capitalised word for what to
# give, never a Python type (Typer's default is `<list[Path]>`, `<str>`).
METAVARS = {"input": "WAV", "output": "WAV", "transcript": "FILE", "attach": "FILE",
            "json": "FILE", "trace": "FILE", "reply-script": "FILE", "region": "REGION",
            "model": "MODEL", "voice": "VOICE", "instructions": "TEXT", "language": "LANGUAGE",
            "input-device": "DEVICE", "output-device": "DEVICE", "speak-into": "DEVICE",
            "echo": "MODE", "barge-in": "LEVEL", "connect-timeout": "SECONDS",
            "idle-timeout": "SECONDS", "max-session": "SECONDS", "send-timeout": "SECONDS",
            "frame-rate": "FPS", "api-key": "KEY", "cancel-response-done": "STATUS",
            "transcription": "WHEN", "turns": "N", "barge-ins": "N", "heard-script": "FILE",
            "local-reply-script": "FILE", "local-heard-script": "FILE"}


def uniform_metavars(command: Any) -> Any:
    """Give each value option of ``command`` its METAVARS word (else its name in capitals)."""
    for param in getattr(command, "params", ()):
        if param.param_type_name == "option" and not param.is_flag and param.metavar is None:
            name = max(param.opts, key=len).lstrip("-")
            param.metavar = METAVARS.get(name, name.upper().replace("-", "_"))
    return command


def in_help_order(names: Iterable[str]) -> list[str]:
    """``names`` in COMMAND_ORDER; commands it does not know go just before ``bench``."""
    bench = COMMAND_ORDER.index("bench")
    return sorted(names, key=lambda name: COMMAND_ORDER.index(name) if name in COMMAND_ORDER
                  else bench - 0.5)
