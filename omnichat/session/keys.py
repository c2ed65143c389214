"""The keyboard during ``talk`` and ``ptt``: keys -> engine commands, the line editor, y/n.

``KeySession.on_key`` runs on the key thread (``keyboard.KeyReader``, ``omnichat-keys``); it
never touches the console: what the user should see goes on the engine's updates queue
(``Notice``, ``EditorChanged``, ``PushToTalkChanged``, ``MicMuted``), which the main thread
draws. Keys (``?`` lists them)::

    q, Ctrl+D     end the session normally (exit 0)
    m             mute / unmute the microphone
    Space         talk: interrupt the model; ptt: hold to talk (kitty keyboard protocol), or
                  press to start and press again to send; interrupts the model too
    Esc           ptt: drop the recording
    Enter         open the line editor for a message (Enter sends, Esc closes)
    /             open it for a command (/help lists them); an unknown one is offered as
                  a message: y sends it, n (or any other key) keeps it only in the history
    ?             show the keys

``ConfirmPrompt`` lets another thread (a tool runner) ask a y/n question and block until the
user answers with ``y`` or ``n`` (Esc = no), or a timeout (= no).
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
from collections.abc import Callable

from omnichat.engine import Engine
from omnichat.engine import commands as cmd
from omnichat.engine import updates as up
from omnichat.session.ptt import MicGate
from omnichat.session.slash import SessionControl, SlashCommands
from omnichat.terminal.keyboard import PRESS, RELEASE, Key
from omnichat.terminal.line_editor import Cancelled, LineEditor, Submitted

KEYS_TALK = ("keys: q end · m mute · Space interrupt · Enter type · / command · ? keys")
KEYS_PTT_HOLD = ("keys: hold Space to talk · Esc drop · q end · m mute · Enter type · "
                 "/ command · ? keys")
KEYS_PTT_TOGGLE = ("keys: Space start, Space again to send · Esc drop · q end · m mute · "
                   "Enter type · / command · ? keys")
CONFIRM_TIMEOUT_S = 60.0


class ConfirmPrompt:
    """A y/n question from a worker thread, answered by a key; one question at a time."""

    def __init__(self, post: Callable[[up.Update], None]) -> None:
        self._post = post
        self._asking = threading.Lock()  # serialises askers: one question on screen
        self._lock = threading.Lock()  # guards _answer_to (asker vs key thread)
        self._answer_to: tuple[threading.Event, list[bool]] | None = None

    @property
    def waiting(self) -> bool:
        return self._answer_to is not None

    def ask(self, text: str, timeout_s: float = CONFIRM_TIMEOUT_S) -> bool:
        """Show ``text`` with "[y/n]" and block until answered; no answer in time is no."""
        with self._asking:
            done, answer = threading.Event(), [False]
            with self._lock:
                self._answer_to = (done, answer)
            self._post(up.Notice(f"{text} [y/n]", level="question"))
            answered = done.wait(timeout_s)
            with self._lock:
                self._answer_to = None
            if not answered:
                self._post(up.Notice("no answer: taken as no", level="info"))
            return answered and answer[0]

    def answer(self, yes: bool) -> bool:
        """The key thread's y/n; False when no question is waiting."""
        with self._lock:
            if self._answer_to is None:
                return False
            done, answer = self._answer_to
            answer[0] = yes
            done.set()
            return True


class KeySession:
    """Keys of one session; see the module docstring. ``gate`` is None in ``talk``."""

    def __init__(self, engine: Engine, gate: MicGate | None = None, *, model: str = "",
                 text_only: bool = False) -> None:
        self.engine = engine
        self.gate = gate
        self.quit = threading.Event()  # q, Ctrl+D, /quit: the main loop ends normally
        self.control = SessionControl(engine, self.quit.set, self.toggle_mute, model=model,
                                      text_only=text_only)
        self.editor = LineEditor()
        self.editor_open = False
        self.muted = False
        self.prompt = ConfirmPrompt(engine.updates.put)
        self.slash = SlashCommands(self.control)
        self._keys: dict[str, Callable[[], None]] = {
            "q": self.quit.set, "ctrl+d": self.quit.set, "m": self.toggle_mute,
            "space": self._space, "esc": self._esc, "/": self._open_slash,
            "enter": self._open, "?": self._help, "ctrl+c": _interrupt_main,
            "ctrl+z": _suspend}

    @property
    def hint(self) -> str:
        if self.gate is None:
            return KEYS_TALK
        return KEYS_PTT_HOLD if self.gate.hold else KEYS_PTT_TOGGLE

    def kitty_flags(self, flags: int) -> None:
        """The terminal answered the protocol query: release events mean hold-to-talk."""
        if self.gate is not None and bool(flags & 2) != self.gate.hold:
            self.gate.hold = bool(flags & 2)
            self.engine.updates.put(up.PushToTalkChanged(self.gate.recording, self.gate.hold))
            self.engine.updates.put(up.Notice(self.hint, level="info"))

    def on_key(self, key: Key) -> None:
        """The key thread: one decoded key."""
        if self.prompt.waiting and key.event == PRESS and key.name in ("y", "n", "esc"):
            self.prompt.answer(key.name == "y")
        elif self.slash.offered is not None and key.event == PRESS and not self.editor_open:
            self.slash.answer_offer(key.name == "y")  # any other key: not sent
        elif self.editor_open:
            self._edit(key)
        elif key.event == RELEASE:
            if key.name == "space" and self.gate is not None and self.gate.hold:
                self.gate.send()
        elif key.event == PRESS:
            action = self._keys.get(key.name)
            if action is not None:
                action()

    def toggle_mute(self) -> None:
        self.muted = not self.muted
        self.engine.command(cmd.SetMute(self.muted))
        self.engine.updates.put(up.MicMuted(self.muted))
        self.control.say("microphone muted (m to unmute)" if self.muted
                         else "microphone on")

    def _space(self) -> None:
        gate = self.gate
        if gate is None:
            self.engine.command(cmd.Interrupt())
        elif gate.recording:
            if not gate.hold:
                gate.send()
        elif self.muted:
            self.control.say("the microphone is muted; press m to unmute it", "warning")
        else:
            gate.start()

    def _esc(self) -> None:
        if self.gate is not None:
            self.gate.drop()

    def _help(self) -> None:
        self.control.say(self.hint)

    def _open_slash(self) -> None:
        self._open()
        self._edit(Key("/"))

    def _open(self) -> None:
        self.editor_open = True
        self._show()

    def observe(self, update: up.Update) -> None:
        """The main thread shows each update here first: a spoken reply locks the voice."""
        if isinstance(update, up.AssistantStarted) and not self.control.text_only:
            self.control.spoken_reply_seen = True

    def _edit(self, key: Key) -> None:
        result = self.editor.feed(key)
        if isinstance(result, Cancelled | Submitted) or (key.name == "enter"
                                                          and key.event != RELEASE):
            self.editor_open = False  # an empty Enter closes the editor too
        self._show()
        if isinstance(result, Submitted):
            self.slash.run(result.text)

    def _show(self) -> None:
        self.engine.updates.put(up.EditorChanged(self.editor.text, self.editor.cursor,
                                                 self.editor_open))


def _interrupt_main() -> None:
    """Ctrl+C as a key (the kitty protocol reports it instead of signalling): as SIGINT."""
    os.kill(os.getpid(), signal.SIGINT)


def _suspend() -> None:
    os.kill(os.getpid(), signal.SIGTSTP)


class Keyboard:
    """cbreak + the key thread while a session runs, only when stdin and stdout are
    terminals; a context manager that restores the terminal on every exit path."""

    def __init__(self, keys: KeySession) -> None:
        self.keys = keys
        self._stack = contextlib.ExitStack()

    @staticmethod
    def available() -> bool:
        return _isatty(sys.stdin) and _isatty(sys.stdout)

    def __enter__(self) -> Keyboard:
        from omnichat.terminal.keyboard import KeyReader, TerminalMode

        try:
            self._stack.enter_context(TerminalMode())
            self._stack.enter_context(KeyReader(self.keys.on_key,
                                                on_kitty_flags=self.keys.kitty_flags))
        except BaseException:
            self._stack.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self._stack.close()


def _isatty(stream: object) -> bool:
    try:
        return bool(stream.isatty())  # type: ignore[attr-defined]
    except (AttributeError, ValueError, OSError):
        return False
