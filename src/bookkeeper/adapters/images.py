"""Photos the books and the bank do not take, converted on upload (issue 13, ADR 0033).

An iPhone sends HEIC (HEIF with HEVC), Android and the web often WebP; Fiken and Folio take
PDF, JPEG and PNG. Pillow (with the pillow-heif plugin) decodes the photo, turns it upright
(EXIF orientation, which a JPEG without that tag would otherwise lose) and writes a JPEG
(quality 90, what a phone writes), or a PNG when the image has transparency (a screenshot
saved as WebP). Decoding runs in a worker thread: a 12-megapixel photo takes ~0.2 s.
Pillow and pillow-heif load on the first image, not when the server starts (issue 14, P7).
"""

from __future__ import annotations

import asyncio
import functools
import io
import warnings
from typing import Final

from bookkeeper.application.ports import ImageNotConvertible

#: Largest image decoded (pixels): a 48-megapixel phone photo fits, a decompression bomb not.
MAX_PIXELS: Final = 60_000_000
JPEG_QUALITY: Final = 90


@functools.cache
def register_heif() -> None:
    """Teach Pillow HEIC/HEIF (photos from iPhones), once, when the first image comes."""
    try:
        from pillow_heif import register_heif_opener
    except ImportError:  # pragma: no cover - without it HEIC is "not convertible"
        return
    register_heif_opener()


def convert_image(content: bytes) -> tuple[bytes, str]:
    """(JPEG or PNG bytes, their media type) of an image; ImageNotConvertible otherwise."""
    from PIL import Image, ImageOps

    register_heif()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(content)) as opened:
                if opened.width * opened.height > MAX_PIXELS:
                    raise ImageNotConvertible(
                        f"{opened.width}x{opened.height} pixels is more than {MAX_PIXELS}"
                    )
                opened.load()
                image = ImageOps.exif_transpose(opened)
    except ImageNotConvertible:
        raise
    except Exception as exc:  # Pillow raises many kinds for broken or hostile files
        raise ImageNotConvertible(type(exc).__name__) from exc
    out = io.BytesIO()
    if image.mode in {"RGBA", "LA", "PA"} or "transparency" in image.info:
        image.save(out, format="PNG", optimize=False)
        return out.getvalue(), "image/png"
    image.convert("RGB").save(out, format="JPEG", quality=JPEG_QUALITY)
    return out.getvalue(), "image/jpeg"


class PillowImageConverter:
    """The ImageConverter port with Pillow and pillow-heif."""

    async def convert(self, content: bytes, media_type: str) -> tuple[bytes, str]:
        return await asyncio.to_thread(convert_image, content)
