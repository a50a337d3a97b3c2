"""How much a PDF's compressed streams inflate to, counted before PDFium sees the file.

PDFium inflates a page's content stream (and object streams, fonts, images when rendered)
whole, in memory, and has no bound of its own: a 1 MB upload whose one content stream is
1 GB of spaces deflated (zlib reaches ~1000:1) took 2 GB of memory and 11 s to read, so a
10 MB upload (the size POST /files and /documents take) would take the server down.

`inflated_size` walks every `stream` keyword and inflates what follows with zlib in bounded
steps, keeping nothing but a count, and stops once the count passes the limit; an
ASCIIHex or ASCII85 wrapper around the deflated data (which only shrinks the ratio by a
fifth or a half) is taken off first. A stream that is not zlib data (JPEG, CCITT, JBIG2, …,
or broken) counts for nothing here: PDFium judges it as before. Not counted: LZW and
RunLength streams (LZW still bounds a bomb at a few hundred to one; both are rare in
receipts), left as they were.
"""

from __future__ import annotations

import base64
import binascii
import re
import zlib
from typing import Final

#: Inflated in steps of this many bytes (input and output), so the count costs no memory.
STEP: Final = 1024 * 1024

#: `stream` followed by its end of line, not `endstream`.
_STREAM: Final = re.compile(rb"(?<!end)stream\r?\n")
#: The stream's dictionary is read back at most this far (to its object's `obj`).
_DICT_WINDOW: Final = 4096
_ASCII_HEX: Final = re.compile(rb"/(?:ASCIIHexDecode|AHx)\b")
_ASCII_85: Final = re.compile(rb"/(?:ASCII85Decode|A85)\b")
_WHITESPACE: Final = re.compile(rb"\s+")


def inflated_size(content: bytes, limit: int) -> int:
    """The bytes the zlib streams of `content` inflate to, counted up to just past `limit`
    (a result over `limit` means "too much", not the exact size). Nothing is copied but
    a wrapped stream's text: the walk costs little more than the inflating."""
    view = memoryview(content)
    total = 0
    for match in _STREAM.finditer(content):
        begin, start = match.start(), match.end()
        floor = max(0, begin - _DICT_WINDOW)
        floor = max(floor, content.rfind(b"obj", floor, begin))
        hexadecimal = _ASCII_HEX.search(content, floor, begin) is not None
        if hexadecimal or _ASCII_85.search(content, floor, begin):
            total += _inflated(_unwrapped(content, start, hexadecimal=hexadecimal), limit - total)
        else:
            total += _inflated(view[start:], limit - total)
        if total > limit:
            break
    return total


def _unwrapped(content: bytes, start: int, *, hexadecimal: bool) -> bytes:
    """The bytes an ASCIIHex (`…>`) or ASCII85 (`…~>`) wrapper from `start` holds; b"" if
    broken."""
    end = content.find(b">" if hexadecimal else b"~>", start)
    if end < 0:
        return b""
    text = _WHITESPACE.sub(b"", content[start:end])
    try:
        if hexadecimal:
            return binascii.unhexlify(text + b"0" * (len(text) % 2))
        return base64.a85decode(text.removeprefix(b"<~"))
    except ValueError:
        return b""


def _inflated(data: bytes | memoryview, limit: int) -> int:
    """The size `data` inflates to as one zlib stream, counted up to just past `limit`; 0
    when it does not start as zlib data."""
    inflater = zlib.decompressobj()
    size = 0
    position = 0
    pending: bytes | memoryview = b""
    while size <= limit and not inflater.eof:
        if not pending:
            if position >= len(data):
                break
            pending = data[position : position + STEP]
            position += STEP
        try:
            size += len(inflater.decompress(pending, STEP))
        except zlib.error:
            break  # not zlib data, or broken where it stops: PDFium decides
        pending = inflater.unconsumed_tail
    return size
