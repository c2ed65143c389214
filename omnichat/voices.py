"""`omnichat voices`: a model's voices as a Rich table, plain tab-separated lines or JSON."""

from __future__ import annotations

import json
from typing import IO, TextIO

from rich.console import Console
from rich.table import Table
from rich.text import Text

from omnichat.catalog import Model, Voice, get_model
from omnichat.errors import UsageError
from omnichat.sanitize import clean_text

# Languages shown per voice in the table; the JSON and plain output list them all.
TABLE_LANGUAGES = 3


def select_voices(model: Model, language: str | None = None) -> list[Voice]:
    """The model's voices, optionally only those whose languages contain ``language``
    (case-insensitive substring of any language)."""
    if not language:
        return list(model.voices)
    needle = language.casefold()
    return [v for v in model.voices if any(needle in lang.casefold() for lang in v.languages)]


def list_voices(model_name: str | None, *, language: str | None = None, as_json: bool = False,
                out: TextIO | None = None, console: Console | None = None) -> int:
    """Print the voices of ``model_name`` (the configured model when None); return how many."""
    if model_name is None:
        from omnichat.config.settings import load_settings

        model_name = load_settings().model
    model = get_model(model_name)
    voices = select_voices(model, language)
    if not voices:
        spoken = sorted({lang for voice in model.voices for lang in voice.languages})
        raise UsageError(f"no voice of {model.name} speaks "
                         f"'{clean_text(language or '', keep_newlines=False)}'; "
                         f"try one of: {', '.join(spoken)}")
    console = console or Console(file=out, highlight=False)
    if as_json:
        _write_utf8(console.file, to_json(voices) + "\n")
    elif console.is_terminal:
        console.print(_table(model, voices, language))
    else:
        for voice in voices:
            console.file.write("\t".join((voice.voice, voice.name, voice.description,
                                          ", ".join(voice.languages))) + "\n")
    return len(voices)


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


def _table(model: Model, voices: list[Voice], language: str | None) -> Table:
    title = f"{model.name}: {len(voices)} voices" + (f" speaking '{language}'" if language else "")
    caption = (None if model.voices_verified else
               "The documents do not list this model's voices: qwen3.5-omni's list, "
               "unverified (docs/qwen38.md).")
    table = Table(title=Text(title), title_justify="left",  # Text: '[' is not markup
                  caption=caption, caption_justify="left")
    table.add_column("voice", style="bold", no_wrap=True)
    table.add_column("name")
    table.add_column("description")
    table.add_column("languages")
    for voice in voices:
        shown = ", ".join(voice.languages[:TABLE_LANGUAGES])
        more = len(voice.languages) - TABLE_LANGUAGES
        marker = " (default)" if voice.voice == model.default_voice else ""
        table.add_row(Text(voice.voice + marker), Text(voice.name), Text(voice.description),
                      Text(shown + (f" +{more} more" if more > 0 else "")))
    return table
