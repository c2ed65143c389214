"""Server text is untrusted: escape sequences and control characters never reach the terminal."""

from __future__ import annotations

import pytest

from omnichat.sanitize import clean_text, escape_controls, excerpt


@pytest.mark.parametrize("dirty, clean", [
    ("plain text, 你好, Eliška", "plain text, 你好, Eliška"),
    ("\x1b[31mred\x1b[0m", "red"),
    ("\x1b[2J\x1b[Hwiped", "wiped"),  # clear screen + cursor home
    ("\x1b]0;evil title\x07hello", "hello"),  # OSC window title, BEL-terminated
    ("\x1b]8;;http://x\x1b\\link\x1b]8;;\x1b\\", "link"),  # OSC 8 hyperlink, ST-terminated
    ("\x1bPq#0;2;0;0;0\x1b\\sixel", "sixel"),  # DCS
    ("\x9b31mC1 CSI", "C1 CSI"),
    ("bell\x07 back\x08space\x00nul\x7fdel", "bell backspacenuldel"),
    ("\x1bcreset", "reset"),
])
def test_escape_sequences_and_controls_are_removed(dirty, clean):
    assert clean_text(dirty) == clean


def test_newlines_are_kept_by_default_and_become_spaces_on_one_line():
    assert clean_text("line one\nline two\r\n") == "line one\nline two\n"
    assert clean_text("line one\nline two\tend", keep_newlines=False) == "line one line two end"
    assert "\n" not in clean_text("a\x1b[1B\nb", keep_newlines=False)


def test_bidi_controls_are_removed_and_line_separators_are_breaks():
    assert clean_text("abc\u202egpj.exe") == "abcgpj.exe"
    assert clean_text("\u2066a\u2069\u200e\u200f\u061cb\u202a\u202b\u202c\u202d") == "ab"
    assert clean_text("one\u2028two") == "one\ntwo"
    assert clean_text("one\u2029two", keep_newlines=False) == "one two"


def test_excerpt_keeps_short_text_and_cuts_long_text_saying_how_long_it_was():
    assert excerpt("short \x1b[31merror\n") == "short error "
    cut = excerpt("x" * 5000, limit=300)
    assert cut == "x" * 300 + "… (5000 characters in all)"
    assert "\n" not in excerpt("a\n" * 1000)


def test_escape_controls_escapes_what_a_terminal_would_act_on_and_nothing_else():
    assert escape_controls("a\x85b\u202ec\x7f 你好 é") == "a\\u0085b\\u202ec\\u007f 你好 é"
