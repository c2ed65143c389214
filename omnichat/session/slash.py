"""Typed slash commands: ``/image PATH``, ``/voice NAME``, ``/mute``, ``/text``, ``/quit``,
``/help``. A line that is not a command is a typed message (``SendText``).

``/`` opens the editor ready for a command, Enter for a message. A line that starts with ``/``
but names no command is not dropped: it is offered as a message (``send it as text? [y/n]``,
answered by the next key; ``offered`` holds it until then), and it stays in the editor's
history either way (Up recalls it).

``SlashCommands.run(line)`` runs on the key thread; everything it has to say is one line on
the engine's updates queue (a ``Notice``), which only the main thread draws. A mistake (no
such command, a missing argument, a file that is not a picture, a voice the model lacks, a
voice change after the first spoken reply) is one line saying what and how to fix it.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from omnichat.catalog import get_model
from omnichat.engine import Engine
from omnichat.engine import commands as cmd
from omnichat.engine import updates as up
from omnichat.errors import OmnichatError
from omnichat.media.images import PreparedImage, prepare_image
from omnichat.sanitize import clean_text

HELP = ("/image PATH  attach a picture    /voice NAME  change the voice (before the first "
        "spoken reply)    /mute  mute or unmute the microphone    /text  text-only replies    "
        "/quit  end    /help  this list")


@dataclass
class SessionControl:
    """What a slash command may change, shared by the keys and the commands."""

    engine: Engine
    quit: Callable[[], None]
    toggle_mute: Callable[[], None]
    model: str = ""
    spoken_reply_seen: bool = False  # the service refuses a voice change after it
    text_only: bool = False
    attached: list[PreparedImage] = field(default_factory=list)

    def say(self, text: str, level: str = "info") -> None:
        self.engine.updates.put(up.Notice(text, level=level))


def attach_image(control: SessionControl, path: Path) -> None:
    """Prepare a picture and hand it to the engine (held until audio was sent); UsageError
    (one line) for a file that is not a usable picture."""
    image = prepare_image(path)
    control.engine.command(cmd.SendImage(image.jpeg))
    control.attached.append(image)
    control.say(f"attached {path.name}: {image.width}x{image.height} JPEG, about "
                f"{image.tokens} tokens (sent with your next words)")


class SlashCommands:
    """Runs one typed line; see the module docstring."""

    def __init__(self, control: SessionControl) -> None:
        self.control = control
        self.offered: str | None = None  # an unknown command's line, offered as a message
        self._commands: dict[str, Callable[[list[str]], None]] = {
            "image": self._image, "voice": self._voice, "mute": self._mute,
            "text": self._text, "quit": self._quit, "help": self._help}

    def run(self, line: str) -> None:
        if not line.startswith("/") or line.startswith("//"):
            self.control.engine.command(cmd.SendText(line[1:] if line.startswith("//")
                                                     else line))
            return
        try:
            words = shlex.split(line[1:])
        except ValueError:
            words = line[1:].split()
        name = words[0].lower() if words else ""
        handler = self._commands.get(name)
        if handler is None:
            self._offer(name, line[1:].strip())
            return
        try:
            handler(words[1:])
        except OmnichatError as exc:
            self.control.say(clean_text(str(exc), keep_newlines=False), "warning")

    def _offer(self, name: str, message: str) -> None:
        shown = clean_text(name, keep_newlines=False)[:40]
        self.offered = message
        self.control.say(f"unknown command '/{shown}' (type /help for the list); send "
                         f"\"{_excerpt(message)}\" as text? [y/n] (Up recalls the line)",
                         "question")

    def answer_offer(self, yes: bool) -> None:
        """The key after an offer: y sends the line as a message, n keeps it in history."""
        message, self.offered = self.offered, None
        if message is None:
            return
        if yes:
            self.control.engine.command(cmd.SendText(message))
        else:
            self.control.say("not sent; Up in the editor recalls the line")

    def _image(self, args: list[str]) -> None:
        if len(args) != 1:
            self.control.say("/image needs one file: /image PATH (quote a path with spaces)",
                             "warning")
            return
        attach_image(self.control, Path(args[0]).expanduser())

    def _voice(self, args: list[str]) -> None:
        control = self.control
        if len(args) != 1:
            control.say("/voice needs a name: /voice NAME (`omnichat voices` lists them)",
                        "warning")
            return
        model, voice = get_model(control.model), args[0]
        if not model.accepts_voice(voice):
            control.say(f"model {model.name} has no voice '{clean_text(voice)[:40]}'; run "
                        f"`omnichat voices --model {model.name}` to list them", "warning")
            return
        if control.spoken_reply_seen:
            control.say("the voice cannot change now: the service allows it only before the "
                        f"first spoken reply; restart with --voice {voice}", "warning")
            return
        audio = control.engine.conversation.session.get("audio")
        if isinstance(audio, dict):  # qwen3.8: audio.output.voice wins over voice
            self._update_session(voice=voice, audio={**audio, "output": {"voice": voice}})
        else:
            self._update_session(voice=voice)
        control.say(f"voice: {voice} from the next reply")

    def _mute(self, args: list[str]) -> None:
        self.control.toggle_mute()

    def _text(self, args: list[str]) -> None:
        control = self.control
        if control.text_only:
            control.say("replies are already text only")
            return
        control.text_only = True
        control.engine.command(cmd.Interrupt())  # the reply playing now stops too
        self._update_session(modalities=["text"])
        control.engine.updates.put(up.RepliesChanged(text_only=True))  # the title's mode
        control.say("text-only replies from now on")

    def _quit(self, args: list[str]) -> None:
        self.control.quit()

    def _help(self, args: list[str]) -> None:
        self.control.say(HELP)

    def _update_session(self, **changes: object) -> None:
        engine = self.control.engine
        session = engine.conversation.session
        session.update(changes)  # a reconnect replays the new settings too
        engine.command(cmd.UpdateSession(dict(session)))


def _excerpt(text: str, limit: int = 40) -> str:
    text = clean_text(text, keep_newlines=False)
    return text if len(text) <= limit else text[:limit - 1] + "…"
