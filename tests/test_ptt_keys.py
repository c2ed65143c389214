"""Push-to-talk and the session keys, driven through a real pseudo-terminal (pexpect) against
the emulator: what the user presses, what the service receives, what the screen says."""

from __future__ import annotations

import pytest
from pty_session import finish, spawn, speech_then_silence

from omnichat.transcript import read_transcript

pytestmark = pytest.mark.timeout(60)
APPEND, COMMIT, CLEAR = ("input_audio_buffer.append", "input_audio_buffer.commit",
                         "input_audio_buffer.clear")
LONG_REPLY = " ".join(["This is a long answer that keeps the speaker busy for a while."] * 6)


def received(emu, kind: str) -> int:
    return emu.connection.received_types.count(kind)


def wait_received(emu, kind: str, count: int = 1):
    return emu.connection.wait_for(kind, direction="received", count=count, timeout=15)


def wait_sent_after(emu, marker: str, count: int, kind: str) -> None:
    """Wait until the emulator sent ``kind`` after its ``count``-th ``marker``."""
    recording = emu.connection.recording

    def seen() -> bool:
        types = recording.types("sent")
        marks = [i for i, t in enumerate(types) if t == marker]
        return len(marks) >= count and kind in types[marks[count - 1]:]
    with recording.changed:
        assert recording.changed.wait_for(seen, timeout=15), recording.types("sent")


def turns(tmp_path) -> list[dict]:
    path = tmp_path / "t.jsonl"
    return read_transcript(path) if path.exists() else []  # turns, not session records


def appended_seconds(emu) -> float:
    """Seconds of microphone audio the emulator received (16 kHz, 16-bit)."""
    import base64

    return sum(len(base64.b64decode(e.get("audio") or "")) for e in emu.connection.received
               if e.type == APPEND) / 32_000


def wait_appended(emu, seconds: float) -> None:
    """Until ``seconds`` more audio arrived (appends carry 20-100 ms each)."""
    recording, target = emu.connection.recording, appended_seconds(emu) + seconds
    with recording.changed:
        assert recording.changed.wait_for(lambda: appended_seconds(emu) >= target,
                                          timeout=15), appended_seconds(emu)


def record_a_turn(child, emu, presses: int = 1) -> None:
    """Space (toggle mode), enough audio, Space: the turn is committed."""
    commits = received(emu, COMMIT)
    child.send(" ")
    wait_appended(emu, 0.7)  # >= 0.7 s of noise: long enough to be sent
    child.send(" ")
    wait_received(emu, COMMIT, commits + 1)


def test_a_push_to_talk_turn_sends_only_while_recording(make_emulator, tmp_path):
    emu = make_emulator()
    child = spawn(emu, tmp_path, "ptt")
    child.expect_exact("Space start, Space again to send")  # no key release: toggle mode
    assert received(emu, APPEND) == 0  # the microphone runs, but nothing goes out
    record_a_turn(child, emu)
    wait_received(emu, "response.create")
    types = emu.connection.received_types
    assert types.index(COMMIT) < types.index("response.create")
    assert types[types.index(COMMIT) - 1] == APPEND  # the turn's audio went first
    emu.connection.wait_for("response.done", timeout=15)
    appended = received(emu, APPEND)
    child.send("m")
    child.expect_exact("microphone muted")
    child.send("m")
    child.expect_exact("microphone on")
    child.send("x")  # a key the session does not use does nothing
    child.send("?")
    child.expect_exact("keys: Space start")
    child.send("q")
    assert finish(child) == 0
    assert received(emu, APPEND) == appended  # no recording ran: nothing more was sent
    roles = [t["role"] for t in turns(tmp_path)]
    assert roles[:2] == ["user", "assistant"]


def test_hold_to_talk_where_the_terminal_reports_release(make_emulator, tmp_path):
    emu = make_emulator()
    child = spawn(emu, tmp_path, "ptt")
    child.send("\x1b[?3u")  # the terminal's answer to the kitty flags query
    child.expect_exact("hold Space to talk")
    child.send("\x1b[32;1:1u")  # Space pressed ...
    wait_appended(emu, 0.7)
    child.send("\x1b[32;1:2u")  # ... auto-repeat changes nothing ...
    child.send("\x1b[32;1:3u")  # ... released: sent
    wait_received(emu, COMMIT)
    emu.connection.wait_for("response.done", timeout=15)
    child.send("\x1b[32;1:1u\x1b[32;1:3u")  # a tap: too short
    child.expect_exact("not sent: too short")
    wait_received(emu, CLEAR)
    assert received(emu, COMMIT) == 1
    child.send("q")
    assert finish(child) == 0


def test_esc_drops_the_recording_and_the_server_buffer(make_emulator, tmp_path):
    emu = make_emulator()
    child = spawn(emu, tmp_path, "ptt")
    child.send(" ")
    wait_received(emu, APPEND, 3)
    child.send("\x1b")
    child.expect_exact("recording dropped")
    wait_received(emu, CLEAR)
    assert received(emu, COMMIT) == 0
    child.send("\x04")  # Ctrl+D ends normally too
    assert finish(child) == 0
    assert turns(tmp_path) == []


def test_the_key_and_typed_text_interrupt_the_model(make_emulator, tmp_path):
    emu = make_emulator(replies=[LONG_REPLY])
    child = spawn(emu, tmp_path, "ptt")
    record_a_turn(child, emu)
    emu.connection.wait_for("response.audio.delta", timeout=15)
    child.expect_exact("speaking")
    child.send(" ")  # interrupts, and starts the next recording
    child.expect_exact("✂")
    child.send("\x1b")  # drop that recording
    wait_received(emu, CLEAR)
    child.send("\r")  # the line editor
    child.send("what do you see?\r")
    item = wait_received(emu, "conversation.item.create")
    assert item.get("item")["content"][0]["text"] == "what do you see?"
    wait_received(emu, "response.create", 2)
    emu.connection.wait_for("response.created", count=2, timeout=15)
    wait_sent_after(emu, "response.created", 2, "response.done")
    child.send("q")
    assert finish(child) == 0
    said = turns(tmp_path)
    assert said[1]["role"] == "assistant" and said[1]["interrupted"] is True
    assert {"role": "user", "text": "what do you see?"}.items() <= said[2].items()


def test_slash_commands_and_their_errors(make_emulator, tmp_path):
    from PIL import Image

    Image.new("RGB", (640, 480), (200, 30, 30)).save(tmp_path / "red.png")
    (tmp_path / "notes.txt").write_text("not a picture")
    emu = make_emulator()
    child = spawn(emu, tmp_path, "ptt")
    for line, shown in [("/help", "/image PATH  attach a picture"),
                        ("/bogus", "unknown command '/bogus' (type /help for the list)"),
                        ("n", "not sent; Up in the editor recalls the line"),
                        ("/image", "/image needs one file"),
                        ("/image notes.txt", "notes.txt"),
                        ("/image red.png", "attached red.png: 640x480 JPEG, about 300 tokens"),
                        ("/voice", "/voice needs a name"),
                        ("/voice Nobody", "has no voice 'Nobody'"),
                        ("/voice Ethan", "voice: Ethan from the next reply"),
                        ("/mute", "microphone muted"),
                        ("/mute", "microphone on")]:
        child.send("/" + line[1:] + "\r" if line.startswith("/") else line)
        child.expect_exact(shown)
    update = emu.connection.wait_for("session.update", direction="received", count=2)
    assert update.get("session")["voice"] == "Ethan"
    record_a_turn(child, emu)
    emu.connection.wait_for("response.audio.delta", timeout=15)
    child.send("/voice Tina\r")
    child.expect_exact("the voice cannot change now")
    child.send("/text\r")
    child.expect_exact("text-only replies from now on")
    update = emu.connection.wait_for("session.update", direction="received", count=3)
    assert update.get("session")["modalities"] == ["text"]
    child.send("/quit\r")
    assert finish(child) == 0


def test_a_message_typed_after_slash_is_offered_as_text_not_lost(make_emulator, tmp_path):
    """``/`` opens the editor for a command; ``/Hello, can you hear me`` names none, so it is
    offered as a message (y sends it) and stays in the editor's history."""
    emu = make_emulator()
    child = spawn(emu, tmp_path, "ptt")
    child.send("/Hello, can you hear me\r")
    child.expect_exact("send \"Hello, can you hear me\" as text? [y/n]")
    child.send("y")
    item = emu.connection.wait_for("conversation.item.create", direction="received")
    assert item.get("item")["content"][0]["text"] == "Hello, can you hear me"
    child.send("\r")  # Enter: the editor, for a message; Up recalls the line
    child.send("\x1b[A")
    child.expect_exact("> /Hello, can you hear me")
    child.send("\x1b")
    child.send("q")
    assert finish(child) == 0


def test_space_interrupts_in_talk_and_q_ends_with_0(make_emulator, tmp_path):
    emu = make_emulator(replies=[LONG_REPLY])
    child = spawn(emu, tmp_path, "talk", wav=speech_then_silence(tmp_path / "q.wav"))
    child.expect_exact("Space interrupt")
    emu.connection.wait_for("response.audio.delta", timeout=20)  # the file's speech, answered
    child.expect_exact("speaking")
    child.send(" ")
    child.expect_exact("✂")
    child.send("q")
    assert finish(child) == 0


def test_q_while_the_first_reply_still_streams_ends_with_0(make_emulator, tmp_path):
    """An ``--input`` session that ends by itself without a completed reply exits 1; one the
    user ends with q is their choice. It exited 1 when q came before any reply completed (the
    test above, whenever Space cancelled the reply before the service had sent all of it)."""
    emu = make_emulator(replies=[LONG_REPLY], speed="realtime")
    child = spawn(emu, tmp_path, "talk", wav=speech_then_silence(tmp_path / "q.wav"))
    emu.connection.wait_for("response.audio.delta", timeout=20)  # answering, far from done
    child.expect_exact("speaking")
    child.send("q")
    assert finish(child) == 0
    done = [e for e in emu.connection.sent if e["type"] == "response.done"]
    assert all(e["response"]["status"] != "completed" for e in done)  # none had completed


def test_without_a_terminal_ptt_needs_input(tmp_path):
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-m", "omnichat", "ptt", "--local"],
                          stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=30,
                          check=False)
    assert done.returncode == 2, done.stderr
    assert "ptt needs a terminal for its keys, or --input FILE.wav" in done.stderr
    assert done.stderr.count("\n") == 1

