"""Where Tesseract's Norwegian data is, found without loading Tesseract, numpy or Pillow
(the start-up log asks; the OCR stack loads on the first image, issue 14 P7)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Final

TESSDATA_DIRS: Final = (
    "/usr/share/tesseract-ocr/5/tessdata",
    "/usr/share/tesseract-ocr/4.00/tessdata",
    "/usr/share/tessdata",
    "/usr/local/share/tessdata",
)


def tessdata_path() -> str | None:
    """The folder with Tesseract's Norwegian language data (TESSDATA_PREFIX, else where
    Debian, Alpine and a source build put it); None when there is none."""
    candidates = [os.environ.get("TESSDATA_PREFIX", ""), *TESSDATA_DIRS]
    for folder in candidates:
        if folder and (Path(folder) / "nor.traineddata").is_file():
            return folder
    return None
