"""Make untrusted text (server transcripts, error messages) safe to print on a terminal.

Server-provided text may carry ANSI/OSC escape sequences or other control characters that
would move the cursor, retitle the window or hide output. Everything printed from the server
goes through ``clean_text`` first; newlines and tabs are kept only where asked.
"""

from __future__ import annotations

import re

# CSI (ESC [ ... final), OSC (ESC ] ... BEL or ST), DCS/SOS/PM/APC strings, every other ESC
# sequence (intermediates 0x20-0x2F, then one final byte: RIS 'ESC c', charset selects...), and the
# 8-bit C1 forms of CSI/OSC.
_ESCAPE_SEQUENCE = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]"
    r"|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?"
    r"|\x1b[PX^_][^\x1b]*(?:\x1b\\)?"
    r"|\x1b[ -/]*[0-~]?"
    r"|\x9b[0-?]*[ -/]*[@-~]"
    r"|\x9d[^\x07\x9c]*(?:\x07|\x9c)?"
)
_CONTROL_EXCEPT_NEWLINE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_CONTROL_ALL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_LINE_BREAKS = re.compile(r"[\t\n\r\x0b\x0c\x85]+")


def clean_text(text: str, *, keep_newlines: bool = True) -> str:
    """Return ``text`` without escape sequences and control characters."""
    text = _ESCAPE_SEQUENCE.sub("", text)
    if keep_newlines:
        return _CONTROL_EXCEPT_NEWLINE.sub("", text)
    # A line break or tab still separates words when the text must fit on one line.
    return _CONTROL_ALL.sub("", _LINE_BREAKS.sub(" ", text))
