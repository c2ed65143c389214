"""Typing a message: editing keys, history, submit and cancel."""

from __future__ import annotations

from omnichat.terminal.keyboard import KeyDecoder
from omnichat.terminal.line_editor import MAX_CHARS, Cancelled, LineEditor, Submitted


def _type(editor: LineEditor, data: bytes):
    results = [editor.feed(key) for key in KeyDecoder().feed(data)]
    return [r for r in results if r is not None]


def test_typing_editing_and_submitting_a_line() -> None:
    editor = LineEditor()
    assert _type(editor, b"helo") == []
    _type(editor, b"\x1b[D\x1b[Dl")  # left twice, insert: "hello"
    assert (editor.text, editor.cursor) == ("hello", 3)
    _type(editor, b"\x1b[F world\x7f\x7fld")  # End, type, backspace twice
    assert _type(editor, b"\r") == [Submitted("hello world")]
    assert editor.text == "" and editor.cursor == 0


def test_esc_cancels_and_an_empty_line_is_not_sent() -> None:
    editor = LineEditor()
    _type(editor, b"never mind")
    assert editor.feed(KeyDecoder().feed(b"\x1b[27u")[0]) == Cancelled()
    assert _type(editor, b"   \r") == []


def test_history_walks_back_and_returns_to_the_draft() -> None:
    editor = LineEditor()
    _type(editor, b"first\rsecond\rdraft")
    _type(editor, b"\x1b[A")
    assert editor.text == "second"
    _type(editor, b"\x1b[A\x1b[A")
    assert editor.text == "first"
    _type(editor, b"\x1b[B\x1b[B")
    assert editor.text == "draft"


def test_home_delete_and_ctrl_u() -> None:
    editor = LineEditor()
    _type(editor, b"xabc\x1b[H\x1b[3~")
    assert editor.text == "abc"
    _type(editor, b"\x15")
    assert editor.text == ""


def test_a_line_is_capped() -> None:
    editor = LineEditor()
    _type(editor, b"a" * (MAX_CHARS + 50))
    assert len(editor.text) == MAX_CHARS
