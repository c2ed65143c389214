"""Models, voices, regions and token rules of Qwen-Omni-Realtime, as data.

Facts come from the vendor guide "Qwen-Omni-Realtime" (Alibaba Cloud Model Studio, last
updated Mar 31 2026) and, where the guide is silent, from the sources that docs/protocol.md
§3.1 and docs/protocol.md §7 cite (the client-events reference for sampling defaults, the model
tables for snapshot aliases and output limits). The voice lists were extracted from the guide
once into ``data/voices.json``; nothing here reads the guide at run time.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from types import MappingProxyType
from typing import Any

from omnichat.errors import UsageError


@dataclass(frozen=True)
class Voice:
    voice: str  # the value of the `voice` session parameter, e.g. "Sunny"
    name: str  # display name as the guide prints it, e.g. "Sichuan–Sunny"
    description: str
    languages: tuple[str, ...]


@dataclass(frozen=True)
class Model:
    name: str
    family: str  # "qwen3.8-omni" | "qwen3.5-omni" | "qwen3-omni-flash" | "qwen-omni-turbo"
    voices: tuple[Voice, ...]
    default_voice: str
    audio_tokens_per_second: float
    image_patch_px: int
    supports_search: bool
    supports_semantic_vad: bool
    supports_smooth_output: bool
    transcription_model: str
    defaults: Mapping[str, Any] = field(default_factory=dict)
    max_output_tokens: int | None = None
    # Voices the service accepts that the guide's list for this model leaves out.
    unlisted_voices: tuple[str, ...] = ()
    # qwen3.8 (docs/qwen38.md): features documented for it alone. ``voices_verified`` is
    # False where the voice list is inferred from the documents rather than listed in them:
    # an unlisted voice is then a warning before the session, not a refusal.
    supports_remote_mcp: bool = False  # `type: "mcp"` tools the service calls itself
    input_channels: tuple[int, ...] = (1,)  # microphone channels audio.input.format takes
    supports_video_compact: bool = False  # video.input.representation_compact
    needs_workspace: bool = False  # reportedly reachable only on the workspace host
    voices_verified: bool = True

    def accepts_voice(self, voice: str) -> bool:
        """Whether the service takes ``voice`` for this model (listed or known unlisted)."""
        return self.voice_by_name(voice) is not None or voice in self.unlisted_voices

    def voice_by_name(self, voice: str) -> Voice | None:
        """The voice whose `voice` parameter is exactly ``voice`` (case-sensitive, as sent)."""
        for candidate in self.voices:
            if candidate.voice == voice:
                return candidate
        return None


@dataclass(frozen=True)
class Region:
    name: str
    url: str
    description: str
    # The workspace endpoint, ``{workspace}`` standing for the workspace id (docs/qwen38.md).
    workspace_url: str = ""


WORKSPACE_PLACEHOLDER = "{workspace}"

REGIONS: Mapping[str, Region] = MappingProxyType({
    "intl": Region("intl", "wss://dashscope-intl.aliyuncs.com/api-ws/v1/realtime",
                   "International (Singapore)",
                   "wss://{workspace}.ap-southeast-1.maas.aliyuncs.com/api-ws/v1/realtime"),
    "cn": Region("cn", "wss://dashscope.aliyuncs.com/api-ws/v1/realtime", "China (Beijing)",
                 "wss://{workspace}.cn-beijing.maas.aliyuncs.com/api-ws/v1/realtime"),
})


def workspace_url(template: str, workspace: str) -> str:
    """The workspace endpoint: ``template`` with ``{workspace}`` replaced by the id."""
    return template.replace(WORKSPACE_PLACEHOLDER, workspace)


def _load_voice_lists() -> dict[str, tuple[Voice, ...]]:
    text = resources.files("omnichat").joinpath("data/voices.json").read_text(encoding="utf-8")
    lists = json.loads(text)["voice_lists"]
    return {
        key: tuple(Voice(v["voice"], v["name"], v["description"], tuple(v["languages"]))
                   for v in entries)
        for key, entries in lists.items()
    }


_VOICES = _load_voice_lists()

# Session defaults per family (docs/protocol.md §3.1, newest client-events reference). Turbo's
# sampling parameters are documented as not modifiable; its values are listed for display.
_QWEN35_DEFAULTS = {"temperature": 0.7, "top_p": 0.8, "top_k": 20,
                    "repetition_penalty": 1.0, "presence_penalty": 1.5}
_FLASH_DEFAULTS = {"temperature": 0.9, "top_p": 1.0, "top_k": 50,
                   "repetition_penalty": 1.05, "presence_penalty": 0.0}
_QWEN38_DEFAULTS = {"temperature": 0.6, "top_p": 0.95, "top_k": 20,
                    "repetition_penalty": 0.0, "presence_penalty": 1.0}
_TURBO_DEFAULTS = {"temperature": 1.0, "top_p": 0.01, "top_k": 20,
                   "repetition_penalty": 1.05, "presence_penalty": 0.0}


def _qwen35(name: str) -> Model:
    # Input transcription is fixed to qwen3-asr-flash-realtime (real session.created, S9).
    # Cherry is not in the guide's 55-voice list, yet the guide's own qwen3.5 samples use it
    # and a probe of the service found it accepted (docs/protocol.md §7.2): allow it, list 55.
    return Model(name, "qwen3.5-omni", _VOICES["qwen3.5-omni"], "Tina", 7.0, 32,
                 supports_search=True, supports_semantic_vad=True, supports_smooth_output=False,
                 transcription_model="qwen3-asr-flash-realtime",
                 defaults=MappingProxyType(_QWEN35_DEFAULTS), max_output_tokens=None,
                 unlisted_voices=("Cherry",))


def _qwen38(name: str) -> Model:
    # Everything here is from the newest client-events reference only (docs/qwen38.md):
    # default voice Tina, max_tokens up to 65,536, 1/2/4 input channels, MCP tools. The
    # documents list no voices of their own for it; it is given qwen3.5's (unverified).
    # Audio tokens per second are not documented for it: qwen3.5's rate stands in.
    return Model(name, "qwen3.8-omni", _VOICES["qwen3.5-omni"], "Tina", 7.0, 32,
                 supports_search=True, supports_semantic_vad=True, supports_smooth_output=False,
                 transcription_model="qwen3-asr-flash-realtime",
                 defaults=MappingProxyType(_QWEN38_DEFAULTS), max_output_tokens=65_536,
                 unlisted_voices=("Cherry",), supports_remote_mcp=True,
                 input_channels=(1, 2, 4), supports_video_compact=True, needs_workspace=True,
                 voices_verified=False)


def _flash(name: str, voice_list: str) -> Model:
    return Model(name, "qwen3-omni-flash", _VOICES[voice_list], "Cherry", 12.5, 32,
                 supports_search=False, supports_semantic_vad=False, supports_smooth_output=True,
                 transcription_model="gummy-realtime-v1",
                 defaults=MappingProxyType(_FLASH_DEFAULTS), max_output_tokens=16_384)


def _turbo(name: str) -> Model:
    return Model(name, "qwen-omni-turbo", _VOICES["qwen-omni-turbo"], "Chelsie", 25.0, 28,
                 supports_search=False, supports_semantic_vad=False, supports_smooth_output=False,
                 transcription_model="gummy-realtime-v1",
                 defaults=MappingProxyType(_TURBO_DEFAULTS), max_output_tokens=2_048)


# Stable names and snapshots. The guide names qwen3.5-omni-plus-realtime and the three
# qwen3-omni-flash ids; qwen3.5-omni-flash-realtime (real recording), the -2026-03-15 and the
# turbo aliases come from the model tables of docs/protocol.md §7.1. The guide lists 17 voices for
# qwen3-omni-flash-realtime and -2025-09-15 but 49 for -2025-12-01, so they differ here too.
_ALL = (
    _qwen35("qwen3.5-omni-plus-realtime"),
    _qwen35("qwen3.5-omni-plus-realtime-2026-03-15"),
    _qwen35("qwen3.5-omni-flash-realtime"),
    _qwen35("qwen3.5-omni-flash-realtime-2026-03-15"),
    _flash("qwen3-omni-flash-realtime", "qwen3-omni-flash-2025-09-15"),
    _flash("qwen3-omni-flash-realtime-2025-12-01", "qwen3-omni-flash-2025-12-01"),
    _flash("qwen3-omni-flash-realtime-2025-09-15", "qwen3-omni-flash-2025-09-15"),
    _turbo("qwen-omni-turbo-realtime"),
    _turbo("qwen-omni-turbo-realtime-latest"),
    _turbo("qwen-omni-turbo-realtime-2025-05-08"),
    _qwen38("qwen3.8-omni-flash-realtime"),  # newest documents only (docs/qwen38.md)
)

MODELS: Mapping[str, Model] = MappingProxyType({model.name: model for model in _ALL})

# The guide's samples all use qwen3.5-omni-plus-realtime and call it the latest model
# (web search, semantic interruption, 55 voices); it is free while in preview.
DEFAULT_MODEL = "qwen3.5-omni-plus-realtime"


def get_model(name: str) -> Model:
    """The model called ``name``; an unknown name is a usage error listing the known ones."""
    try:
        return MODELS[name]
    except KeyError:
        raise UsageError(f"unknown model '{name}'; known models: {', '.join(MODELS)}") from None


def audio_tokens(model: Model, seconds: float) -> int:
    """Tokens billed for ``seconds`` of input audio (guide: duration × tokens per second).

    Turbo counts anything shorter than one second as one second. The guide gives no rounding
    rule, so the estimate rounds up to a whole token. (Two- and four-channel input of qwen3.8
    costs twice the tokens: the caller counts its seconds twice.)
    """
    if seconds < 0:
        raise ValueError(f"audio duration must not be negative, got {seconds}")
    if seconds == 0:
        return 0
    if model.family == "qwen-omni-turbo":
        seconds = max(seconds, 1.0)
    # round() first so that 0.1 s × 7 = 0.7000000000000001 does not become 2 tokens
    return math.ceil(round(seconds * model.audio_tokens_per_second, 9))


IMAGE_MIN_TOKENS = 4
IMAGE_MAX_TOKENS = 1280


def image_tokens(model: Model, width: int, height: int) -> int:
    """Tokens for one image of ``width`` × ``height`` pixels, as the guide's estimator computes.

    Each side is rounded to a multiple of the patch size; an image outside 4..1280 patches is
    scaled (keeping its aspect ratio) back into that range first.
    """
    if width <= 0 or height <= 0:
        raise ValueError(f"image size must be positive, got {width}x{height}")
    factor = model.image_patch_px
    h_bar = round(height / factor) * factor
    w_bar = round(width / factor) * factor
    min_pixels = IMAGE_MIN_TOKENS * factor * factor
    max_pixels = IMAGE_MAX_TOKENS * factor * factor
    if h_bar * w_bar > max_pixels:
        beta = math.sqrt((height * width) / max_pixels)
        h_bar = math.floor(height / beta / factor) * factor
        w_bar = math.floor(width / beta / factor) * factor
    elif h_bar * w_bar < min_pixels:
        beta = math.sqrt(min_pixels / (height * width))
        h_bar = math.ceil(height * beta / factor) * factor
        w_bar = math.ceil(width * beta / factor) * factor
    return (h_bar * w_bar) // (factor * factor)
