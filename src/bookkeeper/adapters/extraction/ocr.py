"""OCR for photos and scanned PDFs: clean the image up, then Tesseract (Norwegian + English).

The clean-up is what a person does with a crumpled receipt: turn it upright (EXIF), even out
the light (divide by a blurred copy of itself), straighten it (the angle whose row profile
is sharpest), stretch the contrast. Tesseract reads rows in page order (`--psm 6`, one
block of text with interword spaces kept), so a label and its value stay on one line; a run
of spaces becomes a tab, the same column break the PDF reader gives.

Without the `tesseract` binary (or its Norwegian data) `available()` is False and the
extractor says that images go to review unread; nothing here raises at import.
"""

from __future__ import annotations

import functools
import io
import re
import shutil

import numpy as np
from PIL import Image, ImageFilter, ImageOps

try:  # HEIC/HEIF photos from iPhones
    from pillow_heif import register_heif_opener

    register_heif_opener()
except ImportError:  # pragma: no cover - optional at runtime
    pass

#: Longest side (px) an image is scaled to before OCR: enough for 8 pt text on A4.
MAX_SIDE = 2600
#: Shorter images are scaled up to this long side (Tesseract wants ~25 px capitals).
MIN_SIDE = 1400
MAX_PIXELS = 60_000_000
LANGUAGES = "nor+eng"
TIMEOUT_S = 30


class OcrUnavailable(Exception):
    """Tesseract is not installed (or has no Norwegian data)."""


@functools.cache
def available() -> bool:
    if shutil.which("tesseract") is None:
        return False
    try:
        import pytesseract

        return "nor" in pytesseract.get_languages(config="")
    except Exception:  # a broken installation is the same as none
        return False


def open_image(content: bytes) -> Image.Image:
    Image.MAX_IMAGE_PIXELS = MAX_PIXELS
    image = Image.open(io.BytesIO(content))
    image.load()
    return ImageOps.exif_transpose(image)


def _deskew_angle(gray: Image.Image) -> float:
    """The small rotation (±6°) that makes text rows sharpest, on a thumbnail."""
    thumb = gray.copy()
    thumb.thumbnail((700, 700))
    ink = ImageOps.invert(thumb).point(lambda v: 255 if v > 90 else 0)
    best, best_score = 0.0, -1.0
    for angle in np.arange(-6.0, 6.01, 0.5):
        rows = np.asarray(ink.rotate(float(angle), resample=Image.Resampling.NEAREST)).sum(axis=1)
        score = float(np.var(np.diff(rows.astype(np.float64))))
        if score > best_score:
            best, best_score = float(angle), score
    return best


def _crop_to_paper(gray: Image.Image) -> Image.Image:
    """The bright paper without the darker table around it (rows/columns mostly bright)."""
    a = np.asarray(gray, dtype=np.float32)
    threshold = (float(np.percentile(a, 5)) + float(np.percentile(a, 95))) / 2
    bright = a > threshold
    rows = np.flatnonzero(bright.mean(axis=1) > 0.6)
    cols = np.flatnonzero(bright.mean(axis=0) > 0.6)
    if len(rows) < gray.height * 0.3 or len(cols) < gray.width * 0.3:
        return gray  # no clear paper edge: a scan, or paper filling the frame
    margin = 4
    box = (
        int(cols[0]) + margin,
        int(rows[0]) + margin,
        int(cols[-1]) - margin,
        int(rows[-1]) - margin,
    )
    return gray.crop(box) if box[2] > box[0] and box[3] > box[1] else gray


def clean(image: Image.Image) -> Image.Image:
    """Grey, upright, cropped to the paper, even light, straight, full contrast."""
    gray = _crop_to_paper(image.convert("L"))
    longest = max(gray.size)
    if longest > MAX_SIDE:
        gray.thumbnail((MAX_SIDE, MAX_SIDE), Image.Resampling.LANCZOS)
    elif longest < MIN_SIDE:
        factor = MIN_SIDE / longest
        gray = gray.resize(
            (int(gray.width * factor), int(gray.height * factor)), Image.Resampling.LANCZOS
        )
    small = gray.resize((max(gray.width // 8, 1), max(gray.height // 8, 1)))
    light = small.filter(ImageFilter.MaxFilter(5)).filter(ImageFilter.GaussianBlur(6))
    light = light.resize(gray.size, Image.Resampling.BILINEAR)
    a = np.asarray(gray, dtype=np.float32)
    b = np.asarray(light, dtype=np.float32) + 1.0
    flat = Image.fromarray(np.clip(a / b * 255.0, 0, 255).astype(np.uint8))
    angle = _deskew_angle(flat)
    if angle:
        flat = flat.rotate(angle, resample=Image.Resampling.BICUBIC, expand=True, fillcolor=255)
    return ImageOps.autocontrast(flat, cutoff=1)


def image_text(image: Image.Image) -> str:
    """The text of an image, rows in order, "\t" at column gaps; OcrUnavailable without OCR."""
    if not available():
        raise OcrUnavailable("tesseract with Norwegian data is not installed")
    import pytesseract

    text = pytesseract.image_to_string(
        clean(image),
        lang=LANGUAGES,
        config="--psm 6 -c preserve_interword_spaces=1",
        timeout=TIMEOUT_S,
    )
    return "\n".join(re.sub(r" {3,}", "\t", line) for line in text.splitlines())
