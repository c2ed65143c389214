"""Keys from raw terminal bytes, and the terminal put back as it was on every exit."""

from __future__ import annotations

import os
import pty
import queue
import termios

import pytest

from omnichat.terminal.keyboard import RELEASE, REPEAT, Key, KeyDecoder, KeyReader, TerminalMode


def _names(data: bytes) -> list[str]:
    return [key.name for key in KeyDecoder().feed(data)]


def test_plain_keys_and_control_keys() -> None:
    assert _names(b"q m?/") == ["q", "space", "m", "?", "/"]
    assert _names(b"\r\x04\x03\x7f") == ["enter", "ctrl+d", "ctrl+c", "backspace"]


def test_arrows_and_editing_keys() -> None:
    assert _names(b"\x1b[A\x1b[B\x1b[C\x1b[D\x1bOH\x1b[3~\x1b[F") == [
        "up", "down", "right", "left", "home", "delete", "end"]


def test_kitty_protocol_reports_press_repeat_and_release_of_space() -> None:
    keys = KeyDecoder().feed(b"\x1b[32u\x1b[32;1:2u\x1b[32;1:3u")
    assert keys == [Key("space"), Key("space", REPEAT), Key("space", RELEASE)]


def test_kitty_protocol_esc_enter_ctrl_d_and_the_flags_answer() -> None:
    decoder = KeyDecoder()
    keys = decoder.feed(b"\x1b[?3u\x1b[27u\x1b[13u\x1b[100;5u")
    assert [k.name for k in keys] == ["esc", "enter", "ctrl+d"]
    assert decoder.kitty_flags == 3


def test_a_lone_escape_is_the_esc_key_only_after_the_timeout() -> None:
    decoder = KeyDecoder()
    assert decoder.feed(b"\x1b") == []
    assert decoder.escape_pending
    assert decoder.feed(b"[") == [] and not decoder.escape_pending  # a sequence is starting
    assert decoder.feed(b"A") == [Key("up")]
    decoder.feed(b"\x1b")
    assert decoder.flush_escape() == [Key("esc")]


def test_a_sequence_split_across_reads_and_utf8_split_across_reads() -> None:
    decoder = KeyDecoder()
    assert decoder.feed(b"\x1b[3") == []
    assert decoder.feed(b"2;1:3u") == [Key("space", RELEASE)]
    assert decoder.feed("é".encode()[:1]) == []
    assert decoder.feed("é".encode()[1:]) == [Key("é")]


def test_reports_that_are_not_keys_are_ignored_and_garbage_does_not_stick() -> None:
    assert _names(b"\x1b[12;40R") == []  # a cursor position report
    assert _names(b"\x1b[" + b"9" * 40 + b"qz") == ["z"]  # an unknown sequence, then a key


def test_typed_text_of_keys() -> None:
    assert Key("space").text == " " and Key("a").text == "a"
    assert Key("enter").text == "" and Key("ctrl+d", ctrl=True).text == ""


@pytest.fixture
def pty_pair():
    leader, follower = pty.openpty()
    stdin = os.fdopen(follower, "r", closefd=False)
    stdout = os.fdopen(follower, "w", closefd=False)
    yield leader, follower, stdin, stdout
    os.close(leader)
    os.close(follower)


def _read_all(fd: int) -> bytes:
    chunks = []
    while True:
        import select
        ready, _, _ = select.select([fd], [], [], 0)
        if not ready:
            return b"".join(chunks)
        chunks.append(os.read(fd, 4096))


def test_terminal_mode_is_cbreak_inside_and_restored_after_an_error(pty_pair) -> None:
    leader, follower, stdin, stdout = pty_pair
    before = termios.tcgetattr(follower)
    with pytest.raises(RuntimeError), TerminalMode(stdin, stdout):
        inside = termios.tcgetattr(follower)
        assert not inside[3] & termios.ICANON and not inside[3] & termios.ECHO
        raise RuntimeError("a failure inside the session")
    assert termios.tcgetattr(follower) == before
    written = _read_all(leader)
    assert b"\x1b[>3u" in written and written.rstrip().endswith(b"\x1b[<u")


def test_key_reader_delivers_keys_and_stops(pty_pair) -> None:
    leader, follower, stdin, _ = pty_pair
    keys: queue.Queue[Key] = queue.Queue()
    with TerminalMode(stdin, os.fdopen(follower, "w", closefd=False)), \
            KeyReader(keys.put, stdin=stdin):
        os.write(leader, b"q\x1b[32;1:3u")
        assert keys.get(timeout=5) == Key("q")
        assert keys.get(timeout=5) == Key("space", RELEASE)
        os.write(leader, b"\x1b")
        assert keys.get(timeout=5) == Key("esc")  # after the escape timeout
