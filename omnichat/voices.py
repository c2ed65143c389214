"""`omnichat voices`: a model's voices as a Rich table that fits the terminal, plain
tab-separated lines with a header when piped, or JSON; filtered by language and by words
(``--find``: name, style, who speaks), since every voice of a model often speaks the same
languages."""

from __future__ import annotations

import json
import re
import sys
from typing import IO, TextIO

from rich.console import Console
from rich.table import Table
from rich.text import Text

from omnichat.catalog import Model, Voice, get_model
from omnichat.errors import UsageError
from omnichat.sanitize import clean_text

# Up to this many languages are listed; more are counted unless --long (JSON lists them all).
SHORT_LANGUAGES = 3


def _words(text: str) -> set[str]:
    return set(re.findall(r"\w+", text.casefold()))


def select_voices(model: Model, language: str | None = None,
                  find: str | None = None) -> list[Voice]:
    """The model's voices, optionally only those whose languages contain ``language``
    (case-insensitive substring of any language) and whose id, name or description has every
    word of ``find`` (whole words: ``man`` is not in ``woman``)."""
    voices = list(model.voices)
    if language:
        needle = language.casefold()
        voices = [v for v in voices if any(needle in lang.casefold() for lang in v.languages)]
    if find:
        wanted = _words(find)
        voices = [v for v in voices
                  if wanted <= _words(f"{v.voice} {v.name} {v.description} {v.languages[0]}")]
    return voices


def list_voices(model_name: str | None, *, language: str | None = None, as_json: bool = False,
                out: TextIO | None = None, console: Console | None = None,
                find: str | None = None, long: bool = False) -> int:
    """Print the voices of ``model_name`` (the configured model when None); return how many."""
    if model_name is None:
        from omnichat.config.settings import load_settings

        model_name = load_settings().model
    model = get_model(model_name)
    voices = select_voices(model, language, find)
    if not voices:
        raise _nothing_found(model, language, find)
    console = console or Console(file=out, highlight=False)
    if as_json:
        _write_utf8(console.file, to_json(voices) + "\n")
    elif console.is_terminal:
        console.print(_table(model, voices, language, find, long))
    else:
        console.file.write("\t".join(("voice", "name", "default", "description",
                                      "languages")) + "\n")
        for voice in voices:
            console.file.write("\t".join((
                voice.voice, voice.name, "yes" if voice.voice == model.default_voice else "",
                voice.description, languages_text(voice, long))) + "\n")
    if language and not find and len(voices) == len(model.voices) > 1:
        sys.stderr.write(f"omnichat: every voice of {model.name} speaks "
                         f"'{clean_text(language, keep_newlines=False)}'; --find narrows by "
                         "name, style or who speaks (e.g. --find woman, --find warm)\n")
    return len(voices)


def languages_text(voice: Voice, long: bool = False) -> str:
    """All the languages with ``long`` or when they are few; else the first (the voice's
    own accent) and how many more."""
    if long or len(voice.languages) <= SHORT_LANGUAGES:
        return ", ".join(voice.languages)
    return f"{voice.languages[0]} +{len(voice.languages) - 1} more"


def _nothing_found(model: Model, language: str | None, find: str | None) -> UsageError:
    if language and not select_voices(model, language):
        spoken = sorted({lang for voice in model.voices for lang in voice.languages})
        return UsageError(f"no voice of {model.name} speaks "
                          f"'{clean_text(language, keep_newlines=False)}'; "
                          f"try one of: {', '.join(spoken)}")
    return UsageError(f"no voice of {model.name} matches "
                      f"'{clean_text(find or '', keep_newlines=False)}'; --find looks for whole "
                      "words in the voice, its name and its description (e.g. woman, warm)")


def _write_utf8(stream: IO[str], text: str) -> None:
    """JSON output is UTF-8 whatever the locale says (names like 'Eliška')."""
    buffer = getattr(stream, "buffer", None)
    if buffer is None:
        stream.write(text)
        return
    stream.flush()
    buffer.write(text.encode("utf-8"))
    buffer.flush()


def to_json(voices: list[Voice]) -> str:
    return json.dumps([{"voice": v.voice, "name": v.name, "description": v.description,
                        "languages": list(v.languages)} for v in voices],
                      ensure_ascii=False, indent=2)


def _table(model: Model, voices: list[Voice], language: str | None, find: str | None,
           long: bool) -> Table:
    """Fits the terminal: the description wraps, the name shows only where it differs from
    the voice id, the languages are cut to a few unless ``long``; ● marks the default."""
    chosen = " ".join(part for part in (f"speaking '{language}'" if language else "",
                                        f"matching '{find}'" if find else "") if part)
    title = f"{model.name}: {len(voices)} voices {chosen}".rstrip()
    caption = (f"● default voice ({model.default_voice})"
               + ("" if long else " · --long lists every language"))
    if not model.voices_verified:
        caption += ("\nThe documents do not list this model's voices: qwen3.5-omni's list, "
                    "unverified (docs/qwen38.md).")
    table = Table(title=Text(title), title_justify="left",  # Text: '[' is not markup
                  caption=Text(caption), caption_justify="left")
    table.add_column("voice", style="bold", no_wrap=True)
    named = any(voice.name != voice.voice for voice in voices)
    if named:
        table.add_column("name", no_wrap=True)
    table.add_column("description", ratio=3)
    table.add_column("languages", ratio=2)
    for voice in voices:
        mark = "● " if voice.voice == model.default_voice else "  "
        cells = [Text(mark + voice.voice)]
        if named:
            cells.append(Text(voice.name if voice.name != voice.voice else ""))
        cells += [Text(voice.description), Text(languages_text(voice, long))]
        table.add_row(*cells)
    return table
