"""Server text is untrusted: escape sequences and control characters never reach the terminal."""

from __future__ import annotations

import pytest

from omnichat.sanitize import clean_text


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
