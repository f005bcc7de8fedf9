"""Fixtures for transfer tests: deterministic data and a "photograph" distortion of QR images."""

from __future__ import annotations

import io
import random

import pytest
from PIL import Image, ImageFilter


@pytest.fixture
def rng() -> random.Random:
    return random.Random(20261129)


def photograph(img: Image.Image, rnd: random.Random) -> Image.Image:
    """A phone-camera-like copy: on a 1280x720 page, scaled, rotated ~3°, blurred, noisy, JPEG 60."""
    scale = rnd.uniform(1.2, 1.6)
    img = img.convert("L").resize((int(img.width * scale), int(img.height * scale)),
                                  Image.Resampling.BILINEAR)
    img = img.rotate(rnd.choice((-3, 3)) + rnd.uniform(-0.5, 0.5), Image.Resampling.BICUBIC,
                     expand=True, fillcolor=255)
    page = Image.new("L", (1280, 720), 235)
    page.paste(img, ((1280 - img.width) // 2, max(0, (720 - img.height) // 2)))
    page = page.filter(ImageFilter.GaussianBlur(rnd.uniform(0.6, 1.0)))
    page = Image.blend(page, Image.effect_noise(page.size, 48), 0.2)  # sensor noise
    buf = io.BytesIO()
    page.save(buf, format="JPEG", quality=60)
    buf.seek(0)
    return Image.open(buf)
