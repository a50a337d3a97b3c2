"""The HTTP protocol `serve` hands uvicorn (ADR 0039 coalesced-writes addendum, ADR 0049,
ADR 0060): uvicorn's httptools protocol with both of our changes to it, composed here.

- a request's head is bounded (bounded_head.py: over MAX_HEAD_BYTES, a 431 and the
  connection closed; uvicorn's own 400 for a request its parser refused is problem details
  too), and
- what one step of the event loop writes goes out in one write (coalesce.py: a response's
  head and body in one `send`).

The coalescing half comes first in the bases: its `connection_made` wraps the transport,
so the bounded half's refusals (`_refuse`, `send_400_response`) write through that wrapper,
which sends what it holds before it closes.
"""

from __future__ import annotations

from bookkeeper.entrypoints.http.bounded_head import BoundedHttpToolsProtocol
from bookkeeper.entrypoints.http.coalesce import CoalescingHttpToolsProtocol

__all__ = ["ServedHttpProtocol"]


class ServedHttpProtocol(CoalescingHttpToolsProtocol, BoundedHttpToolsProtocol):
    """What `serve` runs: a request's head bounded (bounded_head.py), each step's writes
    sent together (coalesce.py)."""
