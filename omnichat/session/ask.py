"""``omnichat ask "question"``: one typed question, its reply streamed, spoken, then exit.

The question goes as a typed user message (``Engine.send_text``) on a session with manual
turns and no microphone. The reply's text goes to ``text_out`` as it streams (stdout; stderr
with ``--events -``), and nothing else does: notices, the transcript path and the token line
go to stderr, so ``answer=$(omnichat ask ...)`` holds only the answer. The spoken reply plays
on the speaker (or into ``--output``); the command ends once it finished playing (at once
with ``--text-only``). Exit 0 on an answer; no reply within ``reply_timeout_s`` is exit 1;
the usual codes otherwise (``docs/exit-codes.md``).

The main thread polls the engine as ``talk`` does; nothing here starts a thread of its own.
"""

from __future__ import annotations

import contextlib
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from omnichat.audio.playback import PlaybackBuffer
from omnichat.engine import Engine
from omnichat.engine import updates as up
from omnichat.engine.reconnect import reconnect_policy
from omnichat.engine.turns import Turn, now_utc
from omnichat.errors import OmnichatError, UsageError
from omnichat.sanitize import clean_text, excerpt
from omnichat.session.carry import Carry
from omnichat.session.talk import TalkOptions, _endpoint, _speaker, missing_key_error
from omnichat.transcript import TranscriptWriter, session_path
from omnichat.transport import WebSocketTransport

POLL_S = 0.1
REPLY_TIMEOUT_S = 120.0
MAX_QUESTION_CHARS = 32_000  # the service takes at most about 32k tokens of input


@dataclass
class AskOptions:
    """What ``ask`` needs beyond ``Settings``."""

    local: bool = False
    output_wav: Path | None = None
    transcript: Path | None = None
    resume: str | None = None  # "last" (--continue) or an id (--resume)
    events: str | None = None
    reply_timeout_s: float = REPLY_TIMEOUT_S
    # Internal knobs (tests): the output file's pace, the emulator's speed and options.
    output_pace: float = 1.0
    emulator_speed: str | float = "realtime"
    emulator_options: dict[str, Any] | None = None


def read_question(question: str, stdin: IO[str]) -> str:
    """The question from the argument, or from standard input for ``-``; never empty."""
    where = "on standard input" if question == "-" else "as the argument"
    if question == "-":
        question = stdin.read(MAX_QUESTION_CHARS + 1)
    if len(question) > MAX_QUESTION_CHARS:
        raise UsageError(f"the question is longer than {MAX_QUESTION_CHARS:,} characters; "
                         "shorten it")
    question = question.strip()
    if not question:
        raise UsageError(f"the question {where} is empty; ask something, e.g. "
                         "omnichat ask \"What time is it in Tokyo?\" (or `echo ... | "
                         "omnichat ask -`)")
    return question


class AskView:
    """The reply's text to ``text_out`` as it streams; notices to ``notes``."""

    def __init__(self, text_out: IO[str], notes: IO[str]):
        self.text_out, self.notes = text_out, notes
        self.answer: Turn | None = None
        self._streamed = False

    def apply(self, update: up.Update) -> None:
        if isinstance(update, up.AssistantDelta):
            self._write(clean_text(update.text))
            self._streamed = True
        elif isinstance(update, up.TurnFinished) and update.turn.role == "assistant":
            if not self._streamed:
                self._write(clean_text(update.turn.text))
            self._write("\n")
            self._streamed = False
            self.answer = update.turn
        elif isinstance(update, up.Notice):
            self.notes.write(f"{update.level}: {excerpt(update.text)}\n")
            self.notes.flush()

    def _write(self, text: str) -> None:
        self.text_out.write(text)
        self.text_out.flush()

    def refresh(self, mic_dbfs: float | None = None) -> None:
        pass

    def close(self) -> None:
        pass


def run_ask(flags: dict[str, Any], question: str, options: AskOptions,
            stdin: IO[str] | None = None) -> Turn:
    """The ``ask`` command: settings, the question, one reply; returns the answer."""
    from omnichat.config.settings import load_settings

    question = read_question(question, stdin or sys.stdin)
    settings = load_settings({**flags, "turn_detection": "manual"})
    text_only = list(settings.modalities) == ["text"]
    if text_only and options.output_wav is not None:
        raise UsageError("--output needs spoken replies; drop --text-only or --output")
    if not options.local and not settings.api_key:
        raise missing_key_error(settings)
    carry = Carry.resolve(settings, options.resume, options.events, options.transcript)
    transcript = (carry.transcript_path() or options.transcript
                  or session_path(settings.transcript_dir, now_utc()))
    text_out = sys.stderr if options.events == "-" else sys.stdout
    error: BaseException | None = None
    try:
        return _ask(settings, question, options, carry, transcript, text_out)
    except BaseException as exc:
        error = exc
        raise
    finally:
        if transcript.is_file():
            sys.stderr.write(f"transcript: {transcript}\n")
        if options.output_wav is not None and options.output_wav.is_file():
            sys.stderr.write(f"reply audio: {options.output_wav}\n")
        carry.finish(sys.stderr, transcript, error)


def _ask(settings: Any, question: str, options: AskOptions, carry: Carry, transcript: Path,
         text_out: IO[str]) -> Turn:
    talk_like = TalkOptions(local=options.local, output_wav=options.output_wav,
                            output_pace=options.output_pace,
                            emulator_speed=options.emulator_speed,
                            emulator_options=options.emulator_options)
    text_only = list(settings.modalities) == ["text"]
    with contextlib.ExitStack() as stack:
        endpoint, key = _endpoint(settings, talk_like, stack)
        writer = stack.enter_context(TranscriptWriter(
            transcript, session=carry.session_record(settings, transcript)))
        playback = None if text_only else PlaybackBuffer()
        engine = Engine(
            carry.session(settings.session_payload(), settings), playback=playback,
            on_turn=writer.write,
            connect=lambda: WebSocketTransport(
                endpoint, key, region=settings.region,
                key_env="" if options.local else settings.api_key_env,
                connect_timeout_s=settings.connect_timeout_s,
                allow_insecure=settings.allow_insecure),
            reconnect=reconnect_policy(settings))
        if playback is not None:
            stack.enter_context(_speaker(playback, settings, talk_like))
        ask_view = AskView(text_out, sys.stderr)
        view = carry.open_view(ask_view, settings, transcript)
        stack.callback(_drain, engine, view)  # what the engine finished while closing
        stack.enter_context(engine)
        engine.send_text(question)
        answer = _await_answer(engine, view, ask_view, options.reply_timeout_s)
    if answer is None:  # the engine stopped without an error of its own
        raise OmnichatError("the session ended before the reply came")
    return answer


def _await_answer(engine: Engine, view: Any, ask_view: AskView,
                  timeout_s: float) -> Turn | None:
    """Poll until the reply finished (and, when spoken, finished playing); None when the
    engine stopped first (closing it raises its error)."""
    deadline = time.monotonic() + timeout_s
    while True:
        for update in engine.poll(POLL_S):
            view.apply(update)
        if engine.failed or engine.stopping:
            return None
        if ask_view.answer is not None and engine.is_idle():
            return ask_view.answer
        if time.monotonic() > deadline:
            raise OmnichatError(f"no reply within {timeout_s:.0f} s; try again, or check "
                                "the connection with 'omnichat doctor'")


def _drain(engine: Engine, view: Any) -> None:
    for update in engine.poll(0):
        view.apply(update)
