"""The offline reader, loaded on the first document (issue 14, P7; ADR 0039).

The offline reader brings pypdfium2, numpy, Pillow, pillow-heif, schwifty, babel's month
names and, for photos, Tesseract: ~45 MB per server worker, most of it for documents that
may never come (a worker that only takes proposals over HTTP never reads one). This
stand-in says at start whether OCR is installed (without loading it) and builds the
`OfflineExtractor` in a worker thread when the first document is read; its Tesseract
engines load on the first image, one per OCR thread, as before.
"""

from __future__ import annotations

import asyncio
import importlib.util
import threading
from typing import TYPE_CHECKING

from bookkeeper.adapters.extraction.tessdata import tessdata_path
from bookkeeper.application.ports import Extraction

if TYPE_CHECKING:
    from bookkeeper.adapters.extraction.offline import OfflineExtractor


class LazyOfflineExtractor:
    """The DocumentExtractor port: an `OfflineExtractor` built on first use."""

    name = "offline"

    def __init__(self, *, use_ocr: bool = True) -> None:
        self.use_ocr = use_ocr
        self._reader: OfflineExtractor | None = None
        self._lock = threading.Lock()

    @property
    def loaded(self) -> bool:
        """Whether the reader (and its libraries) has been loaded."""
        return self._reader is not None

    def reader(self) -> OfflineExtractor:
        """The offline reader, imported and built on the first call (thread-safe)."""
        with self._lock:
            if self._reader is None:
                from bookkeeper.adapters.extraction.offline import OfflineExtractor

                self._reader = OfflineExtractor(use_ocr=self.use_ocr)
            return self._reader

    async def extract(self, content: bytes, content_type: str, filename: str | None) -> Extraction:
        # The import (and the read) runs in a worker thread: the event loop never waits
        # for the libraries to load.
        return await asyncio.to_thread(self.extract_sync, content, content_type, filename)

    def extract_sync(self, content: bytes, content_type: str, filename: str | None) -> Extraction:
        return self.reader().extract_sync(content, content_type, filename)

    def describe(self) -> tuple[bool, str]:
        """(OCR installed, a sentence for the start-up log), without loading the reader:
        the binding is found and the Norwegian data is there. Once loaded, the reader's
        own check (which asks Tesseract for its languages) answers."""
        if self._reader is not None:
            return self._reader.describe()
        if self.use_ocr and tessdata_path() is not None and _has_tesserocr():
            return True, "offline reader; photos and scans are read by OCR (nor+eng)"
        return False, (
            "offline reader without OCR (Tesseract with Norwegian data is not installed): "
            "photos and scanned PDFs go to review unread"
        )


def _has_tesserocr() -> bool:
    try:
        return importlib.util.find_spec("tesserocr") is not None
    except (ImportError, ValueError):
        return False
