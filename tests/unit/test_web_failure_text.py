"""The web page's proposal says why its last attempt failed in words of our own, with the
error as recorded kept beside it (for the accountant and the audit trail)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from litestar import Request

from bookkeeper.application.ports import Principal, ProposalView
from bookkeeper.domain.events import Status
from bookkeeper.entrypoints.web.routes import render

NOW = dt.datetime(2026, 11, 20, 13, 0, tzinfo=dt.UTC)
RAW = (
    "fiken 400: fiken POST /companies/acme/purchases answered 400: "
    '{"error": "Validation failed: account 6540 does not exist"}'
)


def view(status: Status, error: str, retry_at: dt.datetime | None = None) -> ProposalView:
    pid = uuid.UUID(int=7)
    return ProposalView(
        id=pid, tenant_id="acme", kind="invoice_registration",
        type="InvoiceRegistrationProposed", status=status, version=4, correlation_id=pid,
        proposed_by="human:ola", proposed_at=NOW, updated_at=NOW, merchant_key="telenor",
        merchant_name="Telenor", amount=None, document_date=None, document_number=None,
        account_code="6540", vat_rate=None, data={}, corrections=None, confidence=None,
        review_outcome=None, review_band=None, review_rule=None, decided_by="human:kari",
        decided_at=NOW, decision_rule=None, rejection_reason=None, attempts=1,
        next_attempt_at=retry_at, last_error=error, external_ids={}, target_proposal_id=None,
        last_position=0,
    )  # fmt: skip


def page(shown: ProposalView, query: str = "") -> str:
    scope: dict[str, Any] = {
        "type": "http", "method": "GET", "path": f"/app/review/{shown.id}",
        "query_string": query.encode(), "headers": [], "app": None,
        "server": ("testserver", 80), "scheme": "http", "root_path": "",
    }  # fmt: skip
    user = Principal(subject="kari", tenant_id="acme", roles=frozenset({"reviewer"}))
    response = render(
        Request(scope),  # type: ignore[arg-type]
        "proposal.html", user=user, view=shown, history=[], confidence={}, review={},
        document=None, error=None, notice=None, inline=False, names=lambda code: None,
        status=200,
    )  # fmt: skip
    return str(response.content)


def test_a_failure_is_explained_and_the_record_is_beside_it() -> None:
    html = page(view(Status.FAILED, RAW))
    assert "Fiken avviste kjøpet: kontoen 6540 finnes ikke i Fiken" in html
    assert "<details><summary>Slik den ble registrert</summary><code>fiken 400:" in html
    assert "Avgjort av kari" in html and "Innlogget som kari (acme)" in html


def test_a_retry_says_when_in_english() -> None:
    retrying = view(
        Status.APPROVED, "fiken: fiken POST /x timed out (ReadTimeout)", NOW.replace(minute=5)
    )
    assert "Fiken did not answer — trying again at 14:05" in page(retrying, "lang=en")
