"""A file's media type from its bytes, never from its name or the sender's Content-Type.

An image uploaded as "kvittering.pdf" is an image; a PDF sent as application/octet-stream is
a PDF. `filetype` knows the magic numbers of the image formats a phone or scanner produces
(JPEG, PNG, HEIC/HEIF, WebP, TIFF, GIF, BMP); a PDF is recognised by its header anywhere in
the first KiB (some producers put junk before it, and readers accept that).
"""

from __future__ import annotations

import filetype

PDF = "application/pdf"
UNKNOWN = "application/octet-stream"

#: The image types the offline extractor reads (with OCR).
IMAGE_TYPES = frozenset(
    {
        "image/jpeg",
        "image/png",
        "image/heic",
        "image/heif",
        "image/avif",
        "image/webp",
        "image/tiff",
        "image/gif",
        "image/bmp",
    }
)


def sniff_media_type(content: bytes) -> str:
    """The media type of `content` by its magic numbers; "application/octet-stream" if unknown."""
    if b"%PDF-" in content[:1024]:
        return PDF
    kind = filetype.guess(content[:8192])
    if kind is None:
        return UNKNOWN
    mime = str(kind.mime)
    return "image/heic" if mime == "image/heif" else mime


def is_image(media_type: str) -> bool:
    return media_type in IMAGE_TYPES
