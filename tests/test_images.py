"""Pictures in, a JPEG within the service's limits out — or one line saying why not."""

from __future__ import annotations

import base64
import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from omnichat.errors import UsageError
from omnichat.media.images import (
    HARD_MAX_SIDE,
    LIMIT_B64_BYTES,
    image_tokens,
    prepare_image,
)


def _noise(width: int, height: int, mode: str = "RGB") -> Image.Image:
    rng = np.random.default_rng(7)
    channels = {"RGB": 3, "RGBA": 4, "CMYK": 4}[mode]
    data = rng.integers(0, 256, (height, width, channels), dtype=np.uint8)
    return Image.fromarray(data, mode=mode if mode != "CMYK" else None).convert(mode) \
        if mode != "CMYK" else Image.frombytes("CMYK", (width, height), data.tobytes())


def _decoded(prepared) -> Image.Image:
    image = Image.open(io.BytesIO(prepared.jpeg))
    assert image.format == "JPEG"
    assert len(prepared.base64) <= LIMIT_B64_BYTES
    assert base64.b64decode(prepared.base64) == prepared.jpeg
    return image


def test_png_with_transparency_becomes_a_jpeg_on_white(tmp_path: Path) -> None:
    path = tmp_path / "logo.png"
    image = Image.new("RGBA", (200, 100), (255, 0, 0, 0))  # fully transparent red
    image.save(path)
    out = _decoded(prepare_image(path))
    assert out.size == (200, 100)
    assert out.convert("RGB").getpixel((10, 10)) >= (250, 250, 250)  # white, not red or black


def test_a_huge_photo_is_scaled_to_720p_and_fits_the_size_limit(tmp_path: Path) -> None:
    path = tmp_path / "huge.png"
    _noise(1600, 1200).save(path)  # noise: the hardest case for the size limit
    prepared = prepare_image(path)
    out = _decoded(prepared)
    assert max(out.size) <= 1280
    assert prepared.tokens == image_tokens(*out.size)


def test_max_side_is_capped_at_1080p(tmp_path: Path) -> None:
    path = tmp_path / "big.jpg"
    Image.new("RGB", (5000, 2000), (20, 120, 200)).save(path)
    out = _decoded(prepare_image(path, max_side=10_000))
    assert max(out.size) == HARD_MAX_SIDE


def test_a_tiny_image_is_not_upscaled_beyond_the_minimum(tmp_path: Path) -> None:
    path = tmp_path / "tiny.gif"
    Image.new("P", (4, 4)).save(path)
    out = _decoded(prepare_image(path))
    assert min(out.size) == 16 and out.size == (16, 16)
    assert image_tokens(*out.size) == 4  # the service's minimum


def test_an_odd_aspect_ratio_keeps_its_shape_within_limits(tmp_path: Path) -> None:
    path = tmp_path / "strip.png"
    Image.new("RGB", (10_000, 40), (0, 0, 0)).save(path)
    out = _decoded(prepare_image(path))
    assert max(out.size) <= HARD_MAX_SIDE and min(out.size) >= 1
    assert out.size[0] / out.size[1] > 100  # still a strip


def test_cmyk_is_converted_to_rgb(tmp_path: Path) -> None:
    path = tmp_path / "print.jpg"
    Image.new("CMYK", (300, 200), (0, 255, 255, 0)).save(path)  # red in CMYK
    out = _decoded(prepare_image(path))
    red, green, blue = out.convert("RGB").getpixel((150, 100))
    assert out.mode == "RGB" and red > 200 and green < 60 and blue < 60


def test_an_animation_sends_its_first_frame(tmp_path: Path) -> None:
    path = tmp_path / "anim.gif"
    frames = [Image.new("RGB", (64, 64), colour) for colour in ((255, 0, 0), (0, 0, 255))]
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=100, loop=0)
    out = _decoded(prepare_image(path))
    red, _, blue = out.convert("RGB").getpixel((32, 32))
    assert red > 200 and blue < 60


@pytest.mark.parametrize("content, reason", [
    (b"this is not an image at all", "not an image"),
    (b"", "not an image"),
    (b"\x89PNG\r\n\x1a\n" + b"\x00" * 40, "not an image"),  # a PNG header and nothing else
])
def test_not_an_image_is_one_line_naming_the_file(tmp_path: Path, content: bytes,
                                                  reason: str) -> None:
    path = tmp_path / "notes.png"
    path.write_bytes(content)
    with pytest.raises(UsageError) as caught:
        prepare_image(path)
    message = str(caught.value)
    assert reason in message and "notes.png" in message and "\n" not in message


def test_a_missing_file_and_a_directory_are_one_line(tmp_path: Path) -> None:
    for path in (tmp_path / "missing.jpg", tmp_path):
        with pytest.raises(UsageError) as caught:
            prepare_image(path)
        assert str(path) in str(caught.value)


def test_token_estimate_follows_the_guide() -> None:
    assert image_tokens(480, 480) == 225  # 15 x 15 patches: what the service reported
    assert image_tokens(10, 10) == 4
    assert image_tokens(20_000, 20_000) == 1280
    assert image_tokens(280, 280, patch_px=28) == 100
