"""Make untrusted text (server transcripts, error messages) safe to print on a terminal.

Server-provided text may carry ANSI/OSC escape sequences, control characters that would move
the cursor, retitle the window or hide output, or bidirectional overrides that reorder what is
shown (U+202E makes "exe.txt" read "txt.exe"). Everything printed from the server goes through
``clean_text`` first; newlines and tabs are kept only where asked. ``excerpt`` cuts server
text quoted in a message to a readable length, and ``escape_controls`` makes text safe to
store in a file someone may ``cat`` later (the characters are escaped, not lost).
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
# Bidirectional marks, embeddings, overrides and isolates (Unicode TR9): ALM, LRM, RLM,
# LRE..RLO, LRI..PDI. Plain text never needs them on a terminal; an attacker can use them.
BIDI_CONTROLS = "\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069"
_BIDI = re.compile(f"[{BIDI_CONTROLS}]")
_CONTROL_EXCEPT_NEWLINE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_CONTROL_ALL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_LINE_BREAKS = re.compile(r"[\t\n\r\x0b\x0c\x85\u2028\u2029]+")
_PARAGRAPH_SEPARATORS = re.compile(r"[\u2028\u2029]")
# What a file keeps escaped: C1 controls and DEL, bidi controls, Unicode line separators
# (C0 controls are already escaped by json.dumps).
_FILE_UNSAFE = re.compile(f"[\x7f-\x9f{BIDI_CONTROLS}\u2028\u2029]")

EXCERPT_CHARS = 300


def clean_text(text: str, *, keep_newlines: bool = True) -> str:
    """Return ``text`` without escape sequences, control characters and bidi controls."""
    text = _BIDI.sub("", _ESCAPE_SEQUENCE.sub("", text))
    if keep_newlines:
        return _CONTROL_EXCEPT_NEWLINE.sub("", _PARAGRAPH_SEPARATORS.sub("\n", text))
    # A line break or tab still separates words when the text must fit on one line.
    return _CONTROL_ALL.sub("", _LINE_BREAKS.sub(" ", text))


def excerpt(text: str, limit: int = EXCERPT_CHARS) -> str:
    """``text`` cleaned onto one line and cut to ``limit`` characters, saying how long it was.

    For server text quoted in a message: a 5 MB "error message" becomes one readable line.
    """
    clean = clean_text(text, keep_newlines=False)
    if len(clean) <= limit:
        return clean
    return f"{clean[:limit].rstrip()}… ({len(clean)} characters in all)"


def escape_controls(text: str) -> str:
    """JSON-escape (``\\u0085``) the characters ``json.dumps(ensure_ascii=False)`` leaves raw
    that a terminal would act on; the text decodes back unchanged."""
    return _FILE_UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)
