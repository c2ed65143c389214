"""The catalog against the vendor guide: models, voice lists, regions and token rules."""

from __future__ import annotations

from pathlib import Path

import pytest

from omnichat import catalog
from omnichat.catalog import (
    DEFAULT_MODEL,
    MODELS,
    REGIONS,
    audio_tokens,
    get_model,
    image_tokens,
)
from omnichat.errors import ExitCode, UsageError

# The guide's "Voice list" section, kept in the repository so the check runs everywhere.
GUIDE = Path(__file__).resolve().parent / "data" / "vendor-guide-voice-list.txt"

EXPECTED_VOICE_COUNTS = {
    "qwen3.5-omni-plus-realtime": 55,
    "qwen3.5-omni-plus-realtime-2026-03-15": 55,
    "qwen3.5-omni-flash-realtime": 55,
    "qwen3.5-omni-flash-realtime-2026-03-15": 55,
    "qwen3-omni-flash-realtime-2025-12-01": 49,
    "qwen3-omni-flash-realtime": 17,
    "qwen3-omni-flash-realtime-2025-09-15": 17,
    "qwen-omni-turbo-realtime": 4,
    "qwen-omni-turbo-realtime-latest": 4,
    "qwen-omni-turbo-realtime-2025-05-08": 4,
    # Not listed by the documents: qwen3.5's list stands in (docs/qwen38.md, unverified).
    "qwen3.8-omni-flash-realtime": 55,
}


@pytest.mark.parametrize("name,count", sorted(EXPECTED_VOICE_COUNTS.items()))
def test_voice_counts_match_the_guide(name, count):
    model = get_model(name)
    assert len(model.voices) == count
    assert len({v.voice for v in model.voices}) == count, "duplicate voice parameter"


def test_every_model_is_listed_and_knows_its_default_voice():
    assert set(MODELS) == set(EXPECTED_VOICE_COUNTS)
    assert DEFAULT_MODEL in MODELS
    for model in MODELS.values():
        assert model.voice_by_name(model.default_voice) is not None, model.name


def test_qwen35_list_runs_from_tina_to_chloe_with_diacritics_and_composite_names():
    model = get_model("qwen3.5-omni-plus-realtime")
    assert model.voices[0].voice == "Tina" and model.voices[-1].voice == "Chloe"
    eliska = model.voice_by_name("Eliška")
    assert eliska is not None and eliska.name == "Eliška"
    sunny = model.voice_by_name("Sunny")
    assert sunny.name == "Sichuan–Sunny"
    assert "Chinese (Sichuan dialect)" in sunny.languages
    assert model.voice_by_name("Theo Calm") is not None
    assert model.voice_by_name("Cherry") is None  # not in the guide's qwen3.5 list...
    assert model.accepts_voice("Cherry")  # ...but the guide's own qwen3.5 samples use it
    assert not model.accepts_voice("Chelsie") and model.accepts_voice("Tina")
    # Bea's language list is split over two lines in the guide; it still has all 30.
    assert len(model.voice_by_name("Bea").languages) == 30


def test_flash_snapshots_differ_as_the_guide_says():
    assert get_model("qwen3-omni-flash-realtime-2025-12-01").voice_by_name("Bellona")
    assert get_model("qwen3-omni-flash-realtime").voice_by_name("Bellona") is None
    jada = get_model("qwen3-omni-flash-realtime").voice_by_name("Jada")
    assert jada.name == "Shanghai - Jada" and jada.languages[0] == "Shanghainese"
    assert [v.voice for v in get_model("qwen-omni-turbo-realtime").voices] == [
        "Cherry", "Serena", "Ethan", "Chelsie"]


def test_family_features_defaults_and_transcription():
    plus, flash, turbo = (get_model(n) for n in (
        "qwen3.5-omni-plus-realtime", "qwen3-omni-flash-realtime", "qwen-omni-turbo-realtime"))
    assert (plus.default_voice, flash.default_voice, turbo.default_voice) == (
        "Tina", "Cherry", "Chelsie")
    assert plus.supports_search and plus.supports_semantic_vad and not plus.supports_smooth_output
    assert flash.supports_smooth_output and not flash.supports_search
    assert not (turbo.supports_search or turbo.supports_semantic_vad
                or turbo.supports_smooth_output)
    assert plus.transcription_model == "qwen3-asr-flash-realtime"
    assert flash.transcription_model == turbo.transcription_model == "gummy-realtime-v1"
    assert plus.defaults["temperature"] == 0.7 and flash.defaults["top_k"] == 50
    assert set(turbo.defaults) == {"temperature", "top_p", "top_k", "repetition_penalty",
                                   "presence_penalty"}
    assert (flash.max_output_tokens, turbo.max_output_tokens) == (16_384, 2_048)


def test_unknown_model_is_a_usage_error_listing_known_models():
    with pytest.raises(UsageError) as info:
        get_model("gpt-4o-realtime")
    message = str(info.value)
    assert message.startswith("unknown model 'gpt-4o-realtime'; known models: ")
    assert "qwen-omni-turbo-realtime-latest" in message and "\n" not in message
    assert info.value.exit_code == ExitCode.USAGE


def test_regions():
    assert REGIONS["intl"].url == "wss://dashscope-intl.aliyuncs.com/api-ws/v1/realtime"
    assert REGIONS["cn"].url == "wss://dashscope.aliyuncs.com/api-ws/v1/realtime"
    assert "Singapore" in REGIONS["intl"].description and "Beijing" in REGIONS["cn"].description


@pytest.mark.parametrize("name,seconds,tokens", [
    ("qwen3.5-omni-plus-realtime", 10, 70),
    ("qwen3.5-omni-plus-realtime", 0.1, 1),
    ("qwen3.5-omni-plus-realtime", 0, 0),
    ("qwen3-omni-flash-realtime", 2, 25),
    ("qwen3-omni-flash-realtime", 1, 13),  # 12.5 rounds up
    ("qwen-omni-turbo-realtime", 0.2, 25),  # under 1 s counts as 1 s
    ("qwen-omni-turbo-realtime", 3, 75),
])
def test_audio_tokens(name, seconds, tokens):
    assert audio_tokens(get_model(name), seconds) == tokens


def test_audio_tokens_rejects_negative_duration():
    with pytest.raises(ValueError):
        audio_tokens(get_model(DEFAULT_MODEL), -1)


@pytest.mark.parametrize("name,size,tokens", [
    ("qwen3.5-omni-plus-realtime", (640, 480), 300),  # 20 × 15 patches
    ("qwen-omni-turbo-realtime", (640, 480), 391),  # 644×476 -> 23 × 17
    ("qwen3.5-omni-plus-realtime", (10, 10), 4),  # scaled up to the minimum
    ("qwen3.5-omni-plus-realtime", (1920, 1080), 1222),  # scaled down under 1280
    ("qwen3.5-omni-plus-realtime", (4000, 4000), 1225),
])
def test_image_tokens(name, size, tokens):
    got = image_tokens(get_model(name), *size)
    assert got == tokens
    assert catalog.IMAGE_MIN_TOKENS <= got <= catalog.IMAGE_MAX_TOKENS


def _guide_voice_parameters(text: str, start: str, stop: str | None) -> list[str]:
    """Voice parameters of one guide table, found differently from the extraction script:
    qwen3.5 rows put the parameter before 'Voice name: ...'; older rows are a display name
    followed by the parameter, the name being the parameter itself or 'Region - parameter'."""
    section = text[text.index(start, text.index("\nVoice list\n")):]
    if stop:
        section = section[:section.index(stop, len(start))]
    lines = [line.strip() for line in section.splitlines() if line.strip()]
    if start.startswith("qwen3.5"):
        return [lines[i - 1] for i, line in enumerate(lines) if line.startswith("Voice name: ")]
    pairs = zip(lines[5:], lines[6:], strict=False)  # skip the title and the 5 header cells
    return [value for name, value in pairs if name == value or name.endswith(f" - {value}")]


def test_voice_lists_equal_the_guide_text():
    text = GUIDE.read_text(encoding="utf-8")
    tables = [
        ("qwen3.5-omni-realtime\n", "qwen3-omni-flash-realtime-2025-12-01\n",
         "qwen3.5-omni-plus-realtime"),
        ("qwen3-omni-flash-realtime-2025-12-01\n", "qwen3-omni-flash-realtime, ",
         "qwen3-omni-flash-realtime-2025-12-01"),
        ("qwen3-omni-flash-realtime, qwen3-omni-flash-realtime-2025-09-15\n",
         "Qwen-Omni-Turbo-Realtime\n", "qwen3-omni-flash-realtime-2025-09-15"),
        ("Qwen-Omni-Turbo-Realtime\n", None, "qwen-omni-turbo-realtime"),
    ]
    for start, stop, model_name in tables:
        ours = [v.voice for v in get_model(model_name).voices]
        assert _guide_voice_parameters(text, start, stop) == ours, model_name
