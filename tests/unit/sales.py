"""What the tests of sales over the bus (the example plugin's InvoiceIssued and
PaymentReceived, ADR 0057) set up alike: the messages, a ledger in memory that books them,
and the posted lines as the tests compare them."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any


def bus_message(type_: str, data: dict[str, Any]) -> bytes:
    """A message of the invoicing system to tenant acme."""
    envelope = {"type": type_, "source": "invoicing", "tenant": "acme", "data": data}
    return json.dumps(envelope).encode()


def sale(invoice_id: str, net: str, vat: str, customer: str = "Kunde AS", **extra: Any) -> bytes:
    """InvoiceIssued of 2 March 2026 for `net` + `vat`, with `extra` fields."""
    data = {"invoice_id": invoice_id, "issue_date": "2026-03-02", "net_amount": net}
    return bus_message("InvoiceIssued", data | {"vat_amount": vat, "customer": customer} | extra)


def moves(posted: Any) -> set[tuple[str, Decimal, Decimal, str | None]]:
    """A booked message's lines: account, debit, credit, VAT code."""
    return {(ln.account, ln.debit, ln.credit, ln.vat_code) for ln in posted.entry.lines}
