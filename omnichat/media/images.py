"""Pictures for the model: any common image file -> one JPEG the service accepts.

The service takes JPEG only, at most 1080p, and at most 256 KB of base64 per
``input_image_buffer.append`` (the newest client-events reference; an older one said 500 KB raw).
``prepare_image`` reads a file with Pillow, refuses what is not an image in one line, takes the
first frame of an animation, flattens transparency onto white, converts CMYK/palette/16-bit
modes to RGB, scales it to fit ``max_side`` (720p by default, never above 1080p, never
upscaled), and re-encodes at falling quality — then smaller — until the base64 fits.

Tokens: one token per 32x32 pixel patch (28x28 on turbo models), 4..1280 per image, with the
sides rounded to multiples of the patch — the vendor guide's rule, used to tell the user what
an attachment will cost before the service's ``usage`` confirms it.
"""

from __future__ import annotations

import base64
import io
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from omnichat.errors import UsageError

MAX_FILE_BYTES = 64 * 1024 * 1024  # refuse larger files before decoding anything
MAX_PIXELS = 80_000_000  # a decompression bomb guard above any real photo
LIMIT_B64_BYTES = 256 * 1024  # the service's per-image limit (base64 characters)
DEFAULT_MAX_SIDE = 1280  # 720p: 1280x720
HARD_MAX_SIDE = 1920  # 1080p: 1920x1080
MIN_SIDE = 16  # below this the model sees nothing; scale up to it
_QUALITIES = (85, 75, 65, 55, 45)


@dataclass(frozen=True)
class PreparedImage:
    """A JPEG ready to send, with what the user should be told about it."""

    source: Path
    jpeg: bytes
    width: int
    height: int
    tokens: int

    @property
    def base64(self) -> str:
        return base64.b64encode(self.jpeg).decode("ascii")


def image_tokens(width: int, height: int, patch_px: int = 32) -> int:
    """The vendor guide's image token estimate: patches of the rounded sides, 4..1280."""
    cols = max(1, round(width / patch_px))
    rows = max(1, round(height / patch_px))
    return min(1280, max(4, cols * rows))


def prepare_image(path: Path, *, max_side: int = DEFAULT_MAX_SIDE,
                  limit_b64_bytes: int = LIMIT_B64_BYTES, patch_px: int = 32) -> PreparedImage:
    """Read ``path`` and return a JPEG within the service's limits; UsageError otherwise."""
    from PIL import Image  # Pillow is imported only when a picture is attached

    max_side = max(MIN_SIDE, min(int(max_side), HARD_MAX_SIDE))
    image = _open(path, Image)
    image = _to_rgb(image, Image)
    image = _fit(image, max_side, Image)
    jpeg = _encode_within(image, limit_b64_bytes, Image)
    if jpeg is None:
        raise UsageError(f"image '{path}': cannot make it fit the service's "
                         f"{limit_b64_bytes // 1024} KB limit; crop it or use a smaller picture")
    width, height = _jpeg_size(jpeg, Image)
    return PreparedImage(path, jpeg, width, height, image_tokens(width, height, patch_px))


def prepare_frame(frame: Any, *, source: Path, max_side: int = DEFAULT_MAX_SIDE,
                  limit_b64_bytes: int = LIMIT_B64_BYTES, patch_px: int = 32) -> PreparedImage:
    """A camera or video frame (an RGB ``uint8`` array of shape (h, w, 3)) -> a JPEG."""
    from PIL import Image

    image = _fit(Image.fromarray(frame, "RGB"), max(MIN_SIDE, min(max_side, HARD_MAX_SIDE)),
                 Image)
    jpeg = _encode_within(image, limit_b64_bytes, Image)
    if jpeg is None:  # pragma: no cover - a frame always fits after scaling down
        raise UsageError(f"a frame of {source} does not fit the service's image limit")
    width, height = _jpeg_size(jpeg, Image)
    return PreparedImage(source, jpeg, width, height, image_tokens(width, height, patch_px))


def _open(path: Path, image_module: Any) -> Any:
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise UsageError(f"image '{path}': {exc.strerror or exc}; give a picture file") from None
    if not path.is_file():
        raise UsageError(f"image '{path}': not a regular file; give a picture file")
    if size > MAX_FILE_BYTES:
        raise UsageError(f"image '{path}': {size // (1024 * 1024)} MB is too large "
                         f"(at most {MAX_FILE_BYTES // (1024 * 1024)} MB)")
    image_module.MAX_IMAGE_PIXELS = MAX_PIXELS
    try:
        image = image_module.open(path)
        image.seek(0)  # the first frame of an animation
        image.load()
    except (OSError, SyntaxError, ValueError, image_module.DecompressionBombError) as exc:
        kind = "too many pixels" if isinstance(exc, image_module.DecompressionBombError) \
            else "not an image Pillow can read"
        raise UsageError(f"image '{path}': {kind}; give a JPEG, PNG, GIF, WebP or BMP "
                         "picture") from None
    return image


def _to_rgb(image: Any, image_module: Any) -> Any:
    """RGB for JPEG: transparency flattened onto white, CMYK/palette/16-bit converted."""
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        background = image_module.new("RGB", rgba.size, (255, 255, 255))
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        return image.point(lambda v: v / 256).convert("L").convert("RGB")
    return image.convert("RGB") if image.mode != "RGB" else image


def _fit(image: Any, max_side: int, image_module: Any) -> Any:
    """Scale so the long side is at most ``max_side`` (never upscaled), and the short side is
    at least MIN_SIDE where the 1080p limit allows (a sliver is widened)."""
    width, height = image.size
    scale = min(1.0, max_side / max(width, height))
    if min(width, height) * scale < MIN_SIDE:  # widen a sliver, within the hard limit
        scale = min(MIN_SIDE / min(width, height), HARD_MAX_SIDE / max(width, height))
    new = (max(1, round(width * scale)), max(1, round(height * scale)))
    if new == image.size:
        return image
    return image.resize(new, image_module.Resampling.LANCZOS)


def _encode_within(image: Any, limit_b64_bytes: int, image_module: Any) -> bytes | None:
    """JPEG at falling quality, then at 3/4 the size, until its base64 fits the limit."""
    limit_raw = limit_b64_bytes * 3 // 4
    for _ in range(8):
        for quality in _QUALITIES:
            out = io.BytesIO()
            image.save(out, format="JPEG", quality=quality, optimize=True)
            if out.tell() <= limit_raw:
                data: bytes = out.getvalue()
                return data
        width, height = image.size
        if max(width, height) <= MIN_SIDE:
            return None
        image = image.resize((max(1, math.floor(width * 0.75)), max(1, math.floor(height * 0.75))),
                             image_module.Resampling.LANCZOS)
    return None


def _jpeg_size(jpeg: bytes, image_module: Any) -> tuple[int, int]:
    with image_module.open(io.BytesIO(jpeg)) as check:
        size: tuple[int, int] = check.size
        return size
