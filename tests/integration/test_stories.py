"""The product stories 1–4 (docs/product.md) end to end through `bookkeeper chat`.

The user talks to the agent with `main(["chat", ...])` on stdin, on a temporary data dir
(embedded SQLite, the offline extractor, the sandbox books and bank, the executor in the
process). Reviewers act in between through the HTTP API (`running_api` on the production
container over the same database, real clock, executor off): the next chat line runs the
executor and tells the user what became of their documents. Assertions are on the printed
chat AND on what was recorded (events, proposals, ledger, sandbox Folio/Fiken objects).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import io
import json
import sqlite3
import uuid
from collections.abc import Awaitable, Callable
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import pytest

from bookkeeper.adapters.sandbox.seed import bank_seed
from bookkeeper.entrypoints.cli.main import main
from tests.documents import org_number, pdf, ruter_ticket, spaced_org, telenor_invoice
from tests.http_helpers import API, Api, pattern, running_api, sqlite_container

T = TypeVar("T")
TENANT = "acme"
USER = "ola"
OSLO = ZoneInfo("Europe/Oslo")
ADOBE_VOEC = spaced_org(org_number("99651234"))
ELKJOP_ORG = spaced_org(org_number("98449234"))


# --- the user, the reviewer, the records ------------------------------------------------


def chat(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *lines: str) -> str:
    """Run `bookkeeper chat` with these stdin lines; what it printed."""
    monkeypatch.setattr("sys.stdin", io.StringIO("".join(f"{line}\n" for line in lines)))
    status = main(["chat", "--tenant", TENANT, "--user", USER])
    out, err = capsys.readouterr()
    assert status == 0, err
    return out


def review(data_dir: Path, action: Callable[[Api], Awaitable[T]]) -> T:
    """Act as a reviewer through the HTTP API on the same database (executor off)."""

    async def run() -> T:
        container = sqlite_container(data_dir)
        container.clock.reset_override()  # the same real clock as the chat
        async with running_api(data_dir, container=container) as api:
            return await action(api)

    return asyncio.run(run())


def rows(data_dir: Path, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    with sqlite3.connect(data_dir / "bookkeeper.db") as db:
        return db.execute(sql, params).fetchall()


def proposal(data_dir: Path, merchant_like: str, kind: str) -> dict[str, Any]:
    found = rows(
        data_dir,
        "SELECT id, status, account_code, vat_rate, decided_by, rejection_reason, confidence,"
        " external_ids FROM proposals WHERE kind = ? AND merchant_name LIKE ?"
        " ORDER BY last_position",
        kind,
        f"%{merchant_like}%",
    )
    assert found, f"no {kind} proposal of {merchant_like}"
    pid, status, account, vat, by, reason, confidence, external = found[-1]
    return {
        "id": str(uuid.UUID(str(pid))),
        "raw_id": pid,
        "status": status,
        "account": account,
        "vat": Decimal(str(vat)) if vat is not None else None,
        "decided_by": by,
        "reason": reason,
        "confidence": Decimal(confidence) / 100 if confidence is not None else None,
        "external_ids": json.loads(external) if isinstance(external, str) else external,
        "count": len(found),
    }


def stream(data_dir: Path, raw_id: Any) -> list[tuple[str, str, str | None]]:
    """(type, actor, status) of a proposal's events, in order."""
    return [
        (t, a, s)
        for t, a, s in rows(
            data_dir,
            "SELECT type, actor, status FROM events WHERE stream_id = ? ORDER BY position",
            raw_id,
        )
    ]


def postings(data_dir: Path, raw_id: Any) -> list[tuple[str, Decimal, Decimal]]:
    return [
        (a, Decimal(d) / 100, Decimal(c) / 100)  # stored in øre
        for a, d, c in rows(
            data_dir,
            "SELECT account, debit, credit FROM journal_lines WHERE proposal_id = ?"
            " ORDER BY line_no",
            raw_id,
        )
    ]


def card_purchase(merchant: str, occurrence: int = 0) -> tuple[dt.date, Decimal]:
    """(date, amount) of a sandbox card purchase of `merchant` (seeded today, Oslo time)."""
    today = dt.datetime.now(OSLO).date()
    events = [e for e in bank_seed(TENANT, today).objects if e.kind == "event"]
    matching = [e.data for e in events if e.data.get("merchant_name") == merchant]
    data = matching[occurrence]
    return dt.date.fromisoformat(str(data["date"])), -Decimal(str(data["amount"]))


def kr(amount: Decimal) -> str:
    return f"{amount:.2f}".replace(".", ",")


def card_receipt(path: Path, merchant: str, org: str | None, occurrence: int = 0) -> Path:
    """A realistic receipt (25 % MVA) paying the sandbox card purchase of `merchant`."""
    date, gross = card_purchase(merchant, occurrence)
    vat = (gross / 5).quantize(Decimal("0.01"))
    lines: list[str | tuple[str, str]] = [merchant]
    if org:
        lines.append(f"Org.nr {org} MVA")
    lines += [
        "Kvittering",
        f"Dato {date:%d.%m.%Y}",
        f"Kvitteringsnr K-{occurrence + 1}{gross:.0f}",
        ("Varer", kr(gross)),
        ("MVA 25%", kr(vat)),
        ("Total NOK", kr(gross)),
        "Betalt med Visa **** 4242",
    ]
    path.write_bytes(pdf(lines))
    return path


async def learn(api: Api, merchant: str, account: str) -> None:
    suggested = await api.propose("PatternSuggested", pattern(merchant, account, "25"))
    approved = await api.approve(suggested["proposalId"])
    assert approved.status_code == 200, approved.text


async def approve(api: Api, proposal_id: str, body: Any = None) -> None:
    response = await api.approve(proposal_id, body)
    assert response.status_code == 200, response.text


# --- story 1 ----------------------------------------------------------------------------


def test_story_1_known_receipt_is_auto_approved_attached_and_booked(
    data_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    review(data_dir, lambda api: learn(api, "Adobe", "6540"))
    # A foreign seller of e-services registered for Norwegian VAT (VOEC) prints its number.
    receipt = card_receipt(tmp_path / "adobe.pdf", "Adobe", ADOBE_VOEC)
    _, gross = card_purchase("Adobe")

    out = chat(monkeypatch, capsys, f"/file {receipt}")

    assert f"Kvittering fra Adobe: {kr(gross)} kr, konto 6540, mva 25 %." in out, out
    assert "Godkjent automatisk; utføres nå." in out
    assert "er bokført. (6540, 25 %)" in out
    found = proposal(data_dir, "Adobe", "receipt_attachment")
    assert found["status"] == "EXECUTED" and found["decided_by"] == "system:review-rules"
    assert found["confidence"] is not None and found["confidence"] >= Decimal("0.9")
    types = [(t, a) for t, a, _ in stream(data_dir, found["raw_id"])]
    assert types[0] == ("ReceiptAttachmentProposed", "human:ola")
    assert ("ReceiptAttachmentApproved", "system:review-rules") in types
    assert types[-1][0] == "ReceiptAttachmentExecuted"
    vat = (gross / 5).quantize(Decimal("0.01"))
    lines = postings(data_dir, found["raw_id"])
    assert ("6540", gross - vat, Decimal(0)) in lines and ("2710", vat, Decimal(0)) in lines
    assert sum(d for _, d, _ in lines) == sum(c for _, _, c in lines) == gross
    # The receipt is attached to the Folio (sandbox) card transaction.
    adobe_event = [
        o.id
        for o in bank_seed(TENANT, dt.date.today()).objects
        if o.kind == "event" and o.data.get("merchant_name") == "Adobe"
    ]
    attached = rows(
        data_dir,
        "SELECT owner_id FROM sandbox_files WHERE tenant_id = ? AND system = 'bank'"
        " AND filename LIKE 'bk-%'",
        TENANT,
    )
    assert attached == [(adobe_event[0],)]


# --- story 2 ----------------------------------------------------------------------------


def test_story_2_new_merchant_is_reviewed_corrected_executed_and_learned(
    data_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    first = card_receipt(tmp_path / "elkjop-1.pdf", "Elkjøp", ELKJOP_ORG, 0)
    out = chat(monkeypatch, capsys, f"/file {first}")
    assert "Kvittering fra Elkjøp" in out and "Venter på godkjenning." in out, out
    waiting = proposal(data_dir, "Elkjøp", "receipt_attachment")
    assert waiting["status"] == "PROPOSED"
    assert waiting["confidence"] is not None and waiting["confidence"] < Decimal("0.7")

    async def correct_and_approve(api: Api) -> str:
        await approve(api, waiting["id"], {"corrections": {"accountCode": "6810"}})
        listed = await api.client.get(
            f"{API}/events", params={"kind": "pattern_suggestion"}, headers=api.reviewer
        )
        assert listed.status_code == 200, listed.text
        return str(listed.json())

    suggestions = review(data_dir, correct_and_approve)
    out = chat(monkeypatch, capsys, "hva er saldoen?")
    assert "Saldo per " in out
    assert "Kvittering fra Elkjøp" in out and "er bokført. (6810, 25 %)" in out, out
    done = proposal(data_dir, "Elkjøp", "receipt_attachment")
    assert done["status"] == "EXECUTED" and done["decided_by"] == "human:kari"
    events = stream(data_dir, done["raw_id"])
    assert [t for t, _, _ in events][-1] == "ReceiptAttachmentExecuted"
    assert ("ReceiptAttachmentApproved", "human:kari", "APPROVED") in events
    assert any(a == "6810" for a, _, _ in postings(data_dir, done["raw_id"]))

    # book-e suggested the pattern (6810, 25 %) from the reviewer's approval.
    suggestion = proposal(data_dir, "Elkjøp", "pattern_suggestion")
    assert suggestion["status"] == "PROPOSED" and suggestion["account"] == "6810"
    assert suggestion["id"] in suggestions or suggestion["count"] == 1
    assert stream(data_dir, suggestion["raw_id"])[0][:2] == ("PatternSuggested", "book-e")
    review(data_dir, lambda api: approve(api, suggestion["id"]))

    second = card_receipt(tmp_path / "elkjop-2.pdf", "Elkjøp", ELKJOP_ORG, 1)
    out = chat(monkeypatch, capsys, f"/file {second}")
    assert "konto 6810, mva 25 %." in out and "Godkjent automatisk; utføres nå." in out, out
    again = proposal(data_dir, "Elkjøp", "receipt_attachment")
    assert again["count"] == 2 and again["status"] == "EXECUTED"
    assert again["decided_by"] == "system:review-rules"


# --- story 3 ----------------------------------------------------------------------------


def test_story_3_supplier_invoice_is_reviewed_then_registered_in_fiken(
    data_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    content, _, expected = telenor_invoice()
    path = tmp_path / "telenor-faktura.pdf"
    path.write_bytes(content)
    # Even a known supplier's invoice is always reviewed.
    review(data_dir, lambda api: learn(api, "Telenor", "6900"))

    out = chat(monkeypatch, capsys, f"/file {path} Here is the Telenor invoice")
    assert "Telenor Norge AS" in out and "account 6900, VAT 25 %." in out, out
    assert "Awaiting review." in out, out
    invoice = proposal(data_dir, "Telenor", "invoice_registration")
    assert invoice["status"] == "PROPOSED"

    review(data_dir, lambda api: approve(api, invoice["id"]))
    out = chat(monkeypatch, capsys, "What is the balance?")
    assert "Balances as of " in out
    assert "is booked. (6900, 25 %)" in out, out

    done = proposal(data_dir, "Telenor", "invoice_registration")
    assert done["status"] == "EXECUTED" and done["decided_by"] == "human:kari"
    types = [(t, a) for t, a, _ in stream(data_dir, done["raw_id"])]
    assert types[0] == ("InvoiceRegistrationProposed", "human:ola")
    assert ("InvoiceRegistrationApproved", "human:kari") in types
    assert types[-1][0] == "InvoiceRegistrationExecuted"
    purchases = rows(
        data_dir,
        "SELECT data FROM sandbox_objects WHERE tenant_id = ? AND system = 'books'"
        " AND kind = 'purchase'",
        TENANT,
    )
    assert len(purchases) == 1
    purchase = json.loads(purchases[0][0])["purchase"]
    assert purchase["kind"] == "supplier" and purchase["date"] == "2026-04-01"
    assert purchase["dueDate" if "dueDate" in purchase else "due_date"] == str(expected["due_date"])
    assert [line["vat_type"] for line in purchase["lines"]] == ["HIGH"], purchase
    files = rows(
        data_dir,
        "SELECT owner_kind, content_type FROM sandbox_files"
        " WHERE tenant_id = ? AND system = 'books'",
        TENANT,
    )
    assert files == [("purchase", "application/pdf")]
    lines = postings(data_dir, done["raw_id"])
    assert ("6900", Decimal("399.20"), Decimal(0)) in lines
    assert ("2400", Decimal(0), Decimal("499.00")) in lines


# --- story 4 ----------------------------------------------------------------------------


def test_story_4_rejection_asks_for_clarification_and_executes_nothing(
    data_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    content, _, _ = ruter_ticket()
    path = tmp_path / "ruter.pdf"
    path.write_bytes(content)
    out = chat(monkeypatch, capsys, f"/file {path}")
    assert "Ruter AS: 44,00 kr, konto 7140, mva 12 %." in out and "Venter på godkjenning." in out
    waiting = proposal(data_dir, "Ruter", "expense_registration")

    async def reject(api: Api) -> None:
        response = await api.reject(waiting["id"], {"reason": "Privat reise?"})
        assert response.status_code == 200, response.text

    review(data_dir, reject)
    out = chat(monkeypatch, capsys, "hva mangler kvittering?")
    assert "ble avvist av kari: «Privat reise?». Kan du forklare" in out, out
    rejected = proposal(data_dir, "Ruter", "expense_registration")
    assert rejected["status"] == "REJECTED" and rejected["reason"] == "Privat reise?"
    events = stream(data_dir, rejected["raw_id"])
    assert [(t, a) for t, a, _ in events][-1] == ("ExpenseRegistrationRejected", "human:kari")
    assert not any("Execut" in t or "Attempt" in t for t, _, _ in events)
    assert postings(data_dir, rejected["raw_id"]) == []
    # Told once: the next line brings no repeat of the news.
    out = chat(monkeypatch, capsys, "hei")
    assert "avvist" not in out


# --- the conversation-memory purge, scheduled daily with the executor -------------------


async def test_purge_job_is_scheduled_daily_and_forgets_only_messages_past_30_days(
    tmp_path: Path,
) -> None:
    from bookkeeper.adapters.sql import SqlDatabase
    from bookkeeper.adapters.sql.conversations import SqlConversationStore
    from bookkeeper.application.conversation import ConversationMessage
    from bookkeeper.entrypoints.scheduler import Scheduler
    from bookkeeper.entrypoints.serve import PURGE_HOUR_UTC, PURGE_JOB

    class Service:  # the ConversationService's purge, on the real SQL store
        def __init__(self, store: SqlConversationStore) -> None:
            self.store = store

        async def purge(self, now: dt.datetime) -> int:
            from bookkeeper.application.conversation import RETENTION

            return await self.store.purge(now - RETENTION)

    database = SqlDatabase(f"sqlite:///{tmp_path / 'purge.db'}")
    await database.migrate()
    store = SqlConversationStore(database)
    now = dt.datetime(2026, 12, 1, 2, 0, tzinfo=dt.UTC)

    def message(age: dt.timedelta, text: str) -> ConversationMessage:
        return ConversationMessage(
            id=uuid.uuid4(),
            tenant_id=TENANT,
            channel_id="cli:ola",
            user="human:ola",
            direction="in",
            text=text,
            created_at=now - age,
        )

    scheduler = Scheduler()
    try:
        await store.add(
            [
                message(dt.timedelta(days=45), "old"),
                message(dt.timedelta(days=30, seconds=1), "just past"),
                message(dt.timedelta(days=29, hours=23), "recent"),
                message(dt.timedelta(0), "today"),
            ]
        )
        # Registered as entrypoints/serve.py registers it.
        scheduler.daily(PURGE_JOB, Service(store).purge, hour=PURGE_HOUR_UTC)
        await scheduler.start()
        assert PURGE_JOB in scheduler.jobs
        trigger = scheduler.trigger(PURGE_JOB)
        assert "cron" in trigger and "hour='2'" in trigger

        assert await scheduler.run_daily_now(PURGE_JOB, now) == 2
        assert [m.text for m in await store.history(TENANT, "cli:ola")] == ["recent", "today"]
        assert await scheduler.run_daily_now(PURGE_JOB, now) == 0
    finally:
        await scheduler.stop()
        await database.dispose()
