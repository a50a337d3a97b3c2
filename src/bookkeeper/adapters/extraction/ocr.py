"""OCR for photos and scanned PDFs: clean the image up, then Tesseract (Norwegian + English).

The clean-up is what a person does with a crumpled receipt: turn it upright (EXIF), even out
the light (divide by a blurred copy of itself), straighten it (the angle whose row profile
is sharpest), stretch the contrast. Tesseract reads rows in page order (page segmentation
mode 6, one block of text with interword spaces kept), so a label and its value stay on one
line; a run of spaces becomes a tab, the same column break the PDF reader gives.

Tesseract is called in-process through `tesserocr` (one engine per thread, models loaded
once), not by starting the `tesseract` program per image: that halves the time of a photo.
The Norwegian language data comes from the distribution (`tesseract-ocr-nor`).

Throughput (issue 13, ADR 0033): Tesseract runs in a bounded pool of one thread per core
(`WORKERS`), each with its engine loaded once, so concurrent uploads use every core without
more engines (memory) or more threads than cores (OMP_THREAD_LIMIT=1: Tesseract's own
OpenMP threads would only compete with the pool). A photo is read in one pass on the quick
clean-up (`prepare`: the sheet cropped out, what is not paper whitened, scaled); the full
clean-up (`clean`: even light, deskew) is a second pass that the extractor asks for only
when the first reading is poor (`read(..., thorough=True)`).

Without the binding or the Norwegian data `available()` is False and the extractor says
that images go to review unread; nothing here raises at import.
"""

from __future__ import annotations

import contextlib
import functools
import io
import os
import re
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Final

# Before Tesseract is loaded: one OpenMP thread per engine (the pool is the parallelism).
os.environ.setdefault("OMP_THREAD_LIMIT", "1")

import numpy as np
from PIL import Image, ImageFilter, ImageOps

from bookkeeper.adapters.extraction.tessdata import tessdata_path

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
#: Engines (threads) reading at once: one per core.
WORKERS: Final = max(os.cpu_count() or 1, 1)


class OcrUnavailable(Exception):
    """Tesseract is not installed (or has no Norwegian data)."""


@functools.cache
def available() -> bool:
    """Tesseract (the tesserocr binding) and its Norwegian data are both there."""
    if tessdata_path() is None:
        return False
    try:
        import tesserocr

        return "nor" in tesserocr.get_languages(tessdata_path())[1]
    except Exception:  # no binding, or a broken installation: the same as none
        return False


_apis = threading.local()

#: Tesseract's orientation detection must be at least this sure before a page is turned
#: (its own scale; an upright page of text scores 8–13, a photo of noise below 1).
MIN_ORIENTATION_CONFIDENCE = 2.0


def _api() -> Any:
    """This thread's Tesseract engine, loaded once (loading the models costs ~0.3 s)."""
    api = getattr(_apis, "api", None)
    if api is None:
        import tesserocr

        api = tesserocr.PyTessBaseAPI(
            path=tessdata_path(), lang=LANGUAGES, psm=tesserocr.PSM.SINGLE_BLOCK
        )
        api.SetVariable("preserve_interword_spaces", "1")
        _apis.api = api
    return api


def _osd_api() -> Any:
    """This thread's orientation detector (Tesseract's `osd` data), loaded on first use:
    only a photo or a scan that read poorly asks for it."""
    api = getattr(_apis, "osd", None)
    if api is None:
        import tesserocr

        api = tesserocr.PyTessBaseAPI(path=tessdata_path(), lang="osd", psm=tesserocr.PSM.OSD_ONLY)
        _apis.osd = api
    return api


@functools.cache
def orientation_available() -> bool:
    """Tesseract's orientation data (`osd.traineddata`, in the distribution's tesseract-ocr
    package) is beside the Norwegian data."""
    folder = tessdata_path()
    return folder is not None and os.path.isfile(os.path.join(folder, "osd.traineddata"))


def _turn(image: Image.Image) -> int:
    api = _osd_api()
    api.SetImage(prepare(image))
    try:
        found = api.DetectOrientationScript()
    except RuntimeError:  # too little text to tell
        found = None
    finally:
        api.Clear()
    if not found or float(found.get("orient_conf", 0.0)) < MIN_ORIENTATION_CONFIDENCE:
        return 0
    return int(found.get("orient_deg", 0)) % 360


def upright_turn(image: Image.Image) -> int:
    """The quarter turn (degrees counter-clockwise: 0, 90, 180 or 270) that sets a page
    photographed sideways or scanned upside down upright, by Tesseract's orientation
    detection; 0 when the page is upright, the detector unsure or not installed. EXIF
    only says how a camera was held, and a scan or a screenshot has none."""
    if not available() or not orientation_available():
        return 0
    if getattr(_apis, "in_pool", False):
        return _turn(image)
    return _executor().submit(_turn, image).result()


def turned(image: Image.Image, degrees: int) -> Image.Image:
    """`image` turned `degrees` counter-clockwise (a quarter turn: no pixel lost)."""
    if degrees == 90:
        return image.transpose(Image.Transpose.ROTATE_90)
    if degrees == 180:
        return image.transpose(Image.Transpose.ROTATE_180)
    if degrees == 270:
        return image.transpose(Image.Transpose.ROTATE_270)
    return image


def open_image(content: bytes) -> Image.Image:
    """The image, upright (EXIF). A JPEG larger than OCR needs (a 12-megapixel phone photo)
    is decoded at a half or a quarter of its size in grey straight away (libjpeg's DCT
    scaling: several times cheaper than decoding it whole and scaling it down after),
    never below MAX_SIDE on its longest side."""
    Image.MAX_IMAGE_PIXELS = MAX_PIXELS
    image = Image.open(io.BytesIO(content))
    if image.format == "JPEG" and max(image.size) >= 2 * MAX_SIDE:
        factor = max(image.size) / MAX_SIDE
        image.draft("L", (int(image.width / factor), int(image.height / factor)))
    # Pillow only warns between MAX_IMAGE_PIXELS and twice that (it raises beyond): a
    # 300 KB PNG of 100 megapixels would decode to 400 MB. The size to decode decides
    # (after a JPEG's draft), before any pixel is decoded.
    if image.width * image.height > MAX_PIXELS:
        raise Image.DecompressionBombError(
            f"{image.width}x{image.height} pixels is more than {MAX_PIXELS}"
        )
    image.load()
    return ImageOps.exif_transpose(image)


#: The largest tilt straightened (degrees): a receipt photographed in a hurry is often
#: 8–14° off; ±6° left such a photo crooked, and Tesseract misread most of it.
MAX_SKEW = 15.0


def _deskew_angle(gray: Image.Image) -> float:
    """The rotation (±MAX_SKEW) that makes text rows sharpest, on a thumbnail."""
    thumb = gray.copy()
    thumb.thumbnail((700, 700))
    ink = ImageOps.invert(thumb).point(lambda v: 255 if v > 90 else 0)
    best, best_score = 0.0, -1.0
    for angle in np.arange(-MAX_SKEW, MAX_SKEW + 0.01, 0.5):
        rows = np.asarray(ink.rotate(float(angle), resample=Image.Resampling.NEAREST)).sum(axis=1)
        score = float(np.var(np.diff(rows.astype(np.float64))))
        if score > best_score:
            best, best_score = float(angle), score
    return best


def _otsu(values: np.ndarray) -> float:
    """The grey level that best splits `values` (uint8) into two classes (Otsu)."""
    hist = np.bincount(values.ravel(), minlength=256).astype(np.float64)
    weight = np.cumsum(hist)
    mean = np.cumsum(hist * np.arange(256))
    total, total_mean = weight[-1], mean[-1]
    back = weight[:-1]
    fore = total - back
    valid = (back > 0) & (fore > 0)
    between = np.zeros(255)
    mu_b = np.divide(mean[:-1], back, out=np.zeros(255), where=valid)
    mu_f = np.divide(total_mean - mean[:-1], fore, out=np.zeros(255), where=valid)
    between[valid] = back[valid] * fore[valid] * (mu_b[valid] - mu_f[valid]) ** 2
    return float(np.argmax(between))


def _paper_mask(gray: Image.Image) -> np.ndarray | None:
    """Where the (brighter) paper is, at 1/8 scale; None when no paper edge shows (a scan,
    or paper filling the frame). Text is removed first (a max filter), so the mask is the
    sheet itself, corners and all, however it is turned."""
    small = gray.resize((max(gray.width // 8, 1), max(gray.height // 8, 1)))
    smooth = np.asarray(small.filter(ImageFilter.MaxFilter(5)), dtype=np.uint8)
    threshold = _otsu(smooth)
    mask = smooth > threshold
    spread = float(np.percentile(smooth, 95)) - float(np.percentile(smooth, 5))
    share = float(mask.mean())
    if spread < 40 or not 0.15 < share < 0.97:
        return None
    return mask


def _crop_to_paper(gray: Image.Image) -> tuple[Image.Image, Image.Image | None]:
    """The sheet without the table around it: cropped to the paper's bounding box, and the
    mask of the paper in that box (to whiten what is not paper after the light is evened)."""
    mask = _paper_mask(gray)
    if mask is None:
        return gray, None
    rows = np.flatnonzero(mask.mean(axis=1) > 0.05)
    cols = np.flatnonzero(mask.mean(axis=0) > 0.05)
    if len(rows) < 2 or len(cols) < 2:
        return gray, None
    sx, sy = gray.width / mask.shape[1], gray.height / mask.shape[0]
    box = (
        int(cols[0] * sx),
        int(rows[0] * sy),
        min(int((cols[-1] + 1) * sx), gray.width),
        min(int((rows[-1] + 1) * sy), gray.height),
    )
    paper = Image.fromarray((mask * 255).astype(np.uint8)).filter(ImageFilter.MinFilter(3))
    paper = paper.resize(gray.size, Image.Resampling.BILINEAR).crop(box)
    return gray.crop(box), paper


def _scaled(gray: Image.Image, paper: Image.Image | None) -> tuple[Image.Image, Image.Image | None]:
    """Scaled so that the longest side is within [MIN_SIDE, MAX_SIDE] (a 12-megapixel photo
    is read at about 300 dpi, not at the camera's resolution)."""
    longest = max(gray.size)
    size: tuple[int, int] | None = None
    if longest > MAX_SIDE:
        factor = MAX_SIDE / longest
        size = (max(int(gray.width * factor), 1), max(int(gray.height * factor), 1))
    elif longest < MIN_SIDE:
        factor = MIN_SIDE / longest
        size = (int(gray.width * factor), int(gray.height * factor))
    if size is not None:
        gray = gray.resize(size, Image.Resampling.LANCZOS)
        paper = None if paper is None else paper.resize(size, Image.Resampling.BILINEAR)
    return gray, paper


def prepare(image: Image.Image) -> Image.Image:
    """The quick clean-up of a first reading: grey, cropped to the paper, what is not paper
    white, scaled; no light correction and no deskew (Tesseract's own thresholding and
    line finding cope with most photos, at a third less time)."""
    gray, paper = _scaled(*_crop_to_paper(image.convert("L")))
    if paper is None:
        return gray
    pixels = np.array(gray)
    pixels[np.asarray(paper) < 128] = 255
    return Image.fromarray(pixels)


def clean(image: Image.Image) -> Image.Image:
    """Grey, upright, cropped to the paper, even light, straight, full contrast."""
    gray, paper = _scaled(*_crop_to_paper(image.convert("L")))
    small = gray.resize((max(gray.width // 8, 1), max(gray.height // 8, 1)))
    light = small.filter(ImageFilter.MaxFilter(5)).filter(ImageFilter.GaussianBlur(6))
    light = light.resize(gray.size, Image.Resampling.BILINEAR)
    a = np.asarray(gray, dtype=np.float32)
    b = np.asarray(light, dtype=np.float32) + 1.0
    flat_a = np.clip(a / b * 255.0, 0, 255)
    if paper is not None:  # the table around the sheet: white, not a dark frame
        flat_a[np.asarray(paper) < 128] = 255
    flat = Image.fromarray(flat_a.astype(np.uint8))
    angle = _deskew_angle(flat)
    if angle:
        flat = flat.rotate(angle, resample=Image.Resampling.BICUBIC, expand=True, fillcolor=255)
    # Stretch the contrast, clipping 1 % at each end, but never more of the dark end than
    # half the ink there is: on a sparse page (an invoice's last page with three lines of
    # totals, 0.3 % ink) clipping 1 % turned the paper's grain and the letters' grey edges
    # black and the page read as noise.
    pixels = np.asarray(flat)
    ink = float((pixels < _otsu(pixels)).mean()) * 100
    return ImageOps.autocontrast(flat, cutoff=(min(1.0, ink / 2), 1))


_pool_lock = threading.Lock()
_pool: ThreadPoolExecutor | None = None


def _mark_pool_thread() -> None:
    _apis.in_pool = True


def _executor() -> ThreadPoolExecutor:
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(
                max_workers=WORKERS, thread_name_prefix="ocr", initializer=_mark_pool_thread
            )
        return _pool


def warm_up() -> None:
    """Load every pool thread's engine now rather than on its first image (a long-running
    service pays this once; a bench measures the steady state after it)."""
    if not available():
        return
    barrier = threading.Barrier(WORKERS)

    def load() -> None:
        _api()
        # Each task on its own thread; a busy pool breaks the barrier: warm enough.
        with contextlib.suppress(threading.BrokenBarrierError):
            barrier.wait(timeout=30)

    for future in [_executor().submit(load) for _ in range(WORKERS)]:
        future.result()


def _read(image: Image.Image, thorough: bool) -> tuple[str, int]:
    api = _api()
    api.SetImage(clean(image) if thorough else prepare(image))
    text = str(api.GetUTF8Text())
    confidence = int(api.MeanTextConf())
    api.Clear()
    return "\n".join(re.sub(r" {3,}", "\t", line) for line in text.splitlines()), confidence


def read(image: Image.Image, *, thorough: bool = False) -> tuple[str, int]:
    """(The text of an image, rows in order, "\t" at column gaps; Tesseract's mean word
    confidence 0–100) after the quick clean-up, or the full one when `thorough`;
    OcrUnavailable without OCR. Runs on the bounded pool (Tesseract releases the GIL, so
    the pool's threads use every core)."""
    if not available():
        raise OcrUnavailable("tesseract with Norwegian data is not installed")
    if getattr(_apis, "in_pool", False):
        return _read(image, thorough)  # already on the pool
    return _executor().submit(_read, image, thorough).result()


def image_text(image: Image.Image) -> str:
    """The text of an image after the full clean-up (a page of a scanned PDF)."""
    return read(image, thorough=True)[0]
