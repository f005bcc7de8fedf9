"""Simulated camera captures of QR frames on a screen, made with Pillow alone.

A capture is the screen (the code on a white window, a dark bezel around it) seen by a camera:
a perspective warp (one edge up to `keystone` shorter, as a screen seen ±10° off axis, plus a
small roll), the code filling a share of the frame height, reduced contrast, sometimes glare,
Gaussian blur, sensor noise, JPEG. A torn capture shows the top of one frame and the bottom of
the next with a blended band (the screen changed during the exposure); a cropped one has part
of the code outside the picture. Used by tests/transfer and bench/bench_qr.py.
"""

from __future__ import annotations

import io
import math
import random
from dataclasses import dataclass
from functools import lru_cache

from PIL import Image, ImageChops, ImageFilter


@dataclass(frozen=True)
class Conditions:
    size: tuple[int, int] = (1280, 720)
    fill: tuple[float, float] = (0.55, 0.8)  # code side / picture height
    keystone: float = 0.10  # one edge up to this much shorter
    roll: float = 4.0  # degrees
    blur: tuple[float, float] = (0.5, 1.5)  # Gaussian sigma, pixels
    jpeg: tuple[int, int] = (40, 70)
    glare: float = 0.5  # probability of a glare spot
    noise: float = 10.0  # sensor noise sigma
    contrast: tuple[int, int] = (35, 215)  # black and white levels as the camera sees them


HARD_720 = Conditions()
HARD_480 = Conditions(size=(854, 480))
NORMAL_720 = Conditions(fill=(0.6, 0.85), keystone=0.05, roll=2.0, blur=(0.4, 0.9),
                        jpeg=(60, 85), glare=0.3, noise=6.0, contrast=(25, 225))
EASY_720 = Conditions(keystone=0.03, roll=1.0, blur=(0.3, 0.6), jpeg=(80, 90), glare=0.0,
                      noise=4.0, contrast=(20, 235))


@lru_cache(maxsize=8)
def _noise_field(size: tuple[int, int], sigma: float) -> Image.Image:
    """One noise field per size, cropped at random offsets (effect_noise costs ~40 ms)."""
    return Image.effect_noise((size[0] + 128, size[1] + 128), sigma)


def _solve(a: list[list[float]], b: list[float]) -> list[float]:
    """Gaussian elimination with partial pivoting (8x8 here)."""
    n = len(b)
    m = [row[:] + [b[i]] for i, row in enumerate(a)]
    for col in range(n):
        piv = max(range(col, n), key=lambda r: abs(m[r][col]))
        m[col], m[piv] = m[piv], m[col]
        for r in range(n):
            if r != col and m[r][col]:
                f = m[r][col] / m[col][col]
                m[r] = [x - f * y for x, y in zip(m[r], m[col], strict=True)]
    return [m[i][n] / m[i][i] for i in range(n)]


def _perspective(src: list[tuple[float, float]], dst: list[tuple[float, float]]) -> list[float]:
    """Coefficients for Image.transform: output point in `dst` -> input point in `src`."""
    a, b = [], []
    for (x, y), (u, v) in zip(dst, src, strict=True):
        a.append([x, y, 1, 0, 0, 0, -u * x, -u * y])
        b.append(u)
        a.append([0, 0, 0, x, y, 1, -v * x, -v * y])
        b.append(v)
    return _solve(a, b)


def screen(code: Image.Image, torn_with: Image.Image | None = None,
           rnd: random.Random | None = None) -> Image.Image:
    """The code in a white window; torn: top of `code`, blended band, bottom of `torn_with`."""
    code = code.convert("L")
    if torn_with is not None:
        assert rnd is not None
        other = torn_with.convert("L").resize(code.size)
        cut = int(code.height * rnd.uniform(0.25, 0.75))
        band = max(2, code.height // 12)
        mask = Image.linear_gradient("L").resize((code.width, band))
        page = code.copy()
        page.paste(other.crop((0, cut + band, code.width, code.height)), (0, cut + band))
        mid = Image.composite(other.crop((0, cut, code.width, cut + band)),
                              code.crop((0, cut, code.width, cut + band)), mask)
        page.paste(mid, (0, cut))
        code = page
    margin = code.width // 6
    win = Image.new("L", (code.width + 2 * margin, code.height + 2 * margin), 255)
    win.paste(code, (margin, margin))
    return win


def capture(code: Image.Image, rnd: random.Random, cond: Conditions = HARD_720, *,
            torn_with: Image.Image | None = None, cropped: bool = False) -> Image.Image:
    """One simulated camera picture of `code` shown on a screen."""
    page = screen(code, torn_with, rnd)
    w, h = cond.size
    # The code (not the window) fills `fill` of the picture height.
    side = h * rnd.uniform(*cond.fill) * page.width / code.width
    cx = w / 2 + rnd.uniform(-0.1, 0.1) * w
    cy = h / 2 + rnd.uniform(-0.05, 0.05) * h
    if cropped:
        cx += rnd.choice((-1, 1)) * side * rnd.uniform(0.3, 0.45)
    k = rnd.uniform(-cond.keystone, cond.keystone)  # >0: right edge shorter
    t = rnd.uniform(-cond.keystone, cond.keystone) / 3  # a little vertical keystone too
    half = side / 2
    corners = [(-half, -half * (1 + min(k, 0)) * (1 - max(t, 0))),
               (half, -half * (1 - max(k, 0)) * (1 - max(t, 0))),
               (half, half * (1 - max(k, 0)) * (1 + min(t, 0))),
               (-half, half * (1 + min(k, 0)) * (1 + min(t, 0)))]
    ang = math.radians(rnd.uniform(-cond.roll, cond.roll))
    ca, sa = math.cos(ang), math.sin(ang)
    dst = [(cx + x * ca - y * sa, cy + x * sa + y * ca) for x, y in corners]
    src = [(0.0, 0.0), (page.width, 0.0), (page.width, page.height), (0.0, page.height)]
    if side < page.width * 0.7:  # shrink first: a bilinear warp alone would alias
        f = side / page.width / 0.8
        page = page.resize((int(page.width * f), int(page.height * f)), Image.Resampling.BOX)
        src = [(x * f, y * f) for x, y in src]
    bezel = rnd.randint(20, 70)
    pic = page.transform(cond.size, Image.Transform.PERSPECTIVE, _perspective(src, dst),
                         Image.Resampling.BILINEAR, fillcolor=bezel)
    lo, hi = cond.contrast
    lo, hi = lo + rnd.randint(-10, 10), hi + rnd.randint(-10, 10)
    pic = pic.point(lambda v: lo + v * (hi - lo) // 255)
    if rnd.random() < cond.glare:
        r = int(h * rnd.uniform(0.15, 0.35))
        spot = Image.radial_gradient("L").resize((2 * r, 2 * r))
        mask = Image.new("L", cond.size, 255)
        mask.paste(spot, (int(cx + rnd.uniform(-side, side) / 2) - r,
                          int(cy + rnd.uniform(-side, side) / 2) - r))
        strength = rnd.uniform(0.3, 0.6)
        mask = mask.point(lambda v: int((255 - v) * strength))
        pic = Image.composite(Image.new("L", cond.size, 250), pic, mask)
    pic = pic.filter(ImageFilter.GaussianBlur(rnd.uniform(*cond.blur)))
    if cond.noise:
        dx, dy = rnd.randrange(128), rnd.randrange(128)
        noise = _noise_field(cond.size, cond.noise).crop((dx, dy, dx + w, dy + h))
        pic = ImageChops.add(pic, noise, scale=1.0, offset=-128)
    buf = io.BytesIO()
    pic.save(buf, format="JPEG", quality=rnd.randint(*cond.jpeg))
    buf.seek(0)
    return Image.open(buf)
