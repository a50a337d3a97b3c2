"""How much a PDF's compressed streams inflate to, counted before PDFium sees the file.

PDFium inflates a page's content stream (and object streams, fonts, images when rendered)
whole, in memory, and has no bound of its own: a 1 MB upload whose one content stream is
1 GB of spaces deflated (zlib reaches ~1000:1) took 2 GB of memory and 11 s to read, so a
10 MB upload (the size POST /files and /documents take) would take the server down.

`inflated_size` walks every `stream` keyword and inflates what follows with zlib in bounded
steps, keeping nothing but a count, and stops once the count passes the limit; an
ASCIIHex or ASCII85 wrapper around the deflated data (which only shrinks the ratio by a
fifth or a half) is taken off first. A stream whose dictionary names LZWDecode or
RunLengthDecode is counted by those codes instead, up to its `endstream`: PDFium decodes
them whole and unbounded too, and they were let through uncounted (RunLength turns two
bytes into 128, 64:1; LZW turns ~80 KB of codes for one repeated byte into 100 MiB, over
1000:1). Only lengths are kept (LZW's table as the length of each entry), never the
output; the codes are counted in Python, ~1.5 µs each (a 10 MB LZW stream takes ~12 s,
where zlib inflates as fast as PDFium: LZW is rare in receipts, a bomb stops at the limit
within a fraction of a second). A stream that is neither (JPEG, CCITT, JBIG2, …, or
broken) counts for nothing here: PDFium judges it as before.
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
_LZW: Final = re.compile(rb"/(?:LZWDecode|LZW)\b")
_RUN_LENGTH: Final = re.compile(rb"/(?:RunLengthDecode|RL)\b")
_EARLY_CHANGE_0: Final = re.compile(rb"/EarlyChange\s+0\b")
_END_STREAM: Final = b"endstream"
#: LZW's codes: clear the table, end of data, the first entry; the widest code.
_CLEAR, _EOD, _FIRST = 256, 257, 258
_MAX_WIDTH: Final = 12
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
        data: bytes | memoryview = view[start:]
        if hexadecimal or _ASCII_85.search(content, floor, begin):
            data = _unwrapped(content, start, hexadecimal=hexadecimal)
        if _LZW.search(content, floor, begin):
            early = _EARLY_CHANGE_0.search(content, floor, begin) is None
            total += _lzw_size(_until_end(content, view, start, data), limit - total, early)
        elif _RUN_LENGTH.search(content, floor, begin):
            total += _run_length_size(_until_end(content, view, start, data), limit - total)
        else:
            total += _inflated(data, limit - total)
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


def _until_end(
    content: bytes, view: memoryview, start: int, data: bytes | memoryview
) -> bytes | memoryview:
    """`data` (the raw stream from `start`, or its unwrapped text) no further than the
    stream's `endstream`: a decoder that misses its end-of-data mark counts no more than
    the stream."""
    if isinstance(data, bytes):
        return data  # unwrapped: it ended at its wrapper's end mark
    end = content.find(_END_STREAM, start)
    return view[start:] if end < 0 else view[start:end]


def _run_length_size(data: bytes | memoryview, limit: int) -> int:
    """The bytes RunLength `data` decodes to, counted up to just past `limit`: a length
    byte n < 128 copies the next n + 1 bytes, n > 128 repeats the next byte 257 - n times,
    128 ends the data."""
    size = 0
    position = 0
    end = len(data)
    while position < end and size <= limit:
        run = data[position]
        if run < 128:
            size += run + 1
            position += run + 2
        elif run > 128:
            size += 257 - run
            position += 2
        else:
            break
    return size


def _lzw_size(data: bytes | memoryview, limit: int, early: bool) -> int:
    """The bytes LZW `data` (PDF's variant: 9 to 12 bit codes, most significant bit first,
    the width growing one code early unless /EarlyChange 0) decodes to, counted up to just
    past `limit`. The table holds each entry's length only; a broken code ends the
    count."""
    lengths = [1] * 256 + [0, 0]
    width = 9
    shift = 1 if early else 0
    previous = -1
    buffer = 0
    bits = 0
    size = 0
    for byte in data:
        buffer = (buffer << 8) | byte
        bits += 8
        while bits >= width:
            bits -= width
            code = buffer >> bits
            buffer &= (1 << bits) - 1
            if code == _CLEAR:
                del lengths[_FIRST:]
                width, previous = 9, -1
                continue
            if code == _EOD:
                return size
            if code < len(lengths):
                length = lengths[code]
            elif code == len(lengths) and previous >= 0:
                length = lengths[previous] + 1  # the entry this very code adds
            else:
                return size  # broken: PDFium decides
            size += length
            if size > limit:
                return size
            if previous >= 0 and len(lengths) < 1 << _MAX_WIDTH:
                lengths.append(lengths[previous] + 1)
            previous = code
            if len(lengths) + shift >= 1 << width and width < _MAX_WIDTH:
                width += 1
    return size


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
