"""A ledger for the SAF-T tests: several periods, suppliers, VAT 25/15/12 %, a reversal,
manual entries, a line before and one after the exported period, another tenant; sales to
customers booked by the bus's invoice translators (InvoiceIssued, PaymentReceived) and by
hand (a sale, a credit note), before, in and after the period.

`build_ledger` writes through the ports (post_entry, the proposals projection), so it
builds the same ledger on the in-memory, SQLite and PostgreSQL adapters.
"""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Any

from bookkeeper_example_translators import (
    InvoiceIssued,
    InvoiceIssuedTranslator,
    PaymentReceived,
    PaymentReceivedTranslator,
)

from bookkeeper.application.event_log import posting_id
from bookkeeper.application.ledger import post_entry
from bookkeeper.application.ports import ProposalView, UnitOfWorkFactory
from bookkeeper.application.translation import ExternalMessage
from bookkeeper.domain.events import (
    InvoiceRegistrationData,
    JournalEntryPostedData,
    JournalLine,
    LineItem,
    Party,
    ProposalData,
    ReceiptAttachmentData,
    Status,
    payload_to_builtins,
)
from bookkeeper.domain.ledger import mirror, posting_for
from bookkeeper.domain.patterns import normalise_merchant

D = Decimal
TENANT = "acme"
START = dt.date(2026, 1, 1)
END = dt.date(2026, 3, 31)
NOW = dt.datetime(2026, 4, 1, 12, 0, tzinfo=dt.UTC)
SUPPLIERS = ("Kontorland AS", "Matbutikken AS", "Flytoget AS", "Adobe Systems")
#: Organisation numbers the purchase documents carry (the others carry none).
SUPPLIER_ORG_NUMBERS = {"Kontorland AS": "912345678", "Matbutikken AS": "998877665"}
NORDLYS = Party(kind="customer", id="K-1001", name="Nordlys AS", org_number="987654321")
FJORD = Party(kind="customer", id="K-1002", name="Fjord Fisk AS")


def _view(
    pid: uuid.UUID,
    tenant: str,
    merchant: str | None,
    target: uuid.UUID | None,
    data: ProposalData | None = None,
) -> ProposalView:
    return ProposalView(
        id=pid,
        tenant_id=tenant,
        kind="invoice" if target is None else "reversal",
        type="InvoiceRegistrationProposed",
        status=Status.EXECUTED,
        version=3,
        correlation_id=pid,
        proposed_by="book-e",
        proposed_at=NOW,
        updated_at=NOW,
        merchant_key=normalise_merchant(merchant) if merchant else None,
        merchant_name=merchant,
        amount=None,
        document_date=None,
        document_number=None,
        account_code=None,
        vat_rate=None,
        data={} if data is None else payload_to_builtins(data),
        corrections=None,
        confidence=None,
        review_outcome=None,
        review_band=None,
        review_rule=None,
        decided_by="kari",
        decided_at=NOW,
        decision_rule=None,
        rejection_reason=None,
        attempts=1,
        next_attempt_at=None,
        last_error=None,
        external_ids={},
        target_proposal_id=target,
        last_position=0,
    )


class LedgerBuilder:
    def __init__(self, uow_factory: UnitOfWorkFactory, tenant: str = TENANT) -> None:
        self.uow = uow_factory
        self.tenant = tenant
        self.entries: dict[str, tuple[uuid.UUID, JournalEntryPostedData]] = {}

    async def post(
        self,
        name: str,
        entry: JournalEntryPostedData,
        *,
        actor: str,
        entry_id: uuid.UUID | None = None,
        proposal: ProposalView | None = None,
    ) -> None:
        entry_id = entry_id or uuid.uuid4()
        async with self.uow() as uow:
            if proposal is not None:
                await uow.proposals.upsert(proposal)
            await post_entry(
                uow,
                self.tenant,
                entry,
                entry_id=entry_id,
                actor=actor,
                correlation_id=entry_id,
                parent_id=None,
                now=NOW,
            )
            await uow.commit()
        self.entries[name] = (entry_id, entry)

    async def purchase(self, name: str, data: ProposalData, merchant: str) -> uuid.UUID:
        pid = uuid.uuid4()
        entry = posting_for(data, proposal_id=str(pid))
        assert entry is not None
        await self.post(
            name,
            entry,
            actor="executor",
            entry_id=posting_id(pid),
            proposal=_view(pid, self.tenant, merchant, None, data),
        )
        return pid

    async def translated(self, name: str, message: ExternalMessage) -> None:
        """Book an event of the bus the way its example translator does."""
        translator: Any = (
            InvoiceIssuedTranslator()
            if isinstance(message.data, InvoiceIssued)
            else PaymentReceivedTranslator()
        )
        command = translator.translate(message)
        entry = JournalEntryPostedData(
            date=command.date,
            description=command.description,
            lines=command.lines,
            source=command.source,
            external_ref=command.external_ref,
        )
        await self.post(name, entry, actor="bus", entry_id=command.entry_id)

    async def reverse(self, name: str, of: str, target: uuid.UUID, date: dt.date) -> None:
        pid = uuid.uuid4()
        entry_id, entry = self.entries[of]
        reversal = mirror(entry, entry_id=str(entry_id), date=date, proposal_id=str(pid))
        await self.post(
            name, reversal, actor="executor", proposal=_view(pid, self.tenant, None, target)
        )

    async def manual(self, name: str, date: dt.date, text: str, *lines: JournalLine) -> None:
        entry = JournalEntryPostedData(date=date, description=text, lines=lines, source="manual")
        await self.post(name, entry, actor="anna")


def dr(account: str, amount: str, **kw: Any) -> JournalLine:
    return JournalLine(account=account, debit=D(amount), **kw)


def cr(account: str, amount: str, **kw: Any) -> JournalLine:
    return JournalLine(account=account, credit=D(amount), **kw)


def invoice(supplier: str, date: dt.date, amount: str, rate: str, account: str, **kw: Any) -> Any:
    return InvoiceRegistrationData(
        supplier=supplier,
        amount=D(amount),
        date=date,
        due_date=date + dt.timedelta(days=14),
        vat_rate=D(rate),
        account_code=account,
        invoice_number=kw.pop("number", "1001"),
        **kw,
    )


def message(tenant: str, data: InvoiceIssued | PaymentReceived) -> ExternalMessage:
    return ExternalMessage(type=type(data).__name__, source="invoicing", tenant=tenant, data=data)


async def build_ledger(uow_factory: UnitOfWorkFactory, tenant: str = TENANT) -> LedgerBuilder:
    """The test ledger of `tenant` (and one entry of tenant `globex`)."""
    b = LedgerBuilder(uow_factory, tenant)
    await b.manual(
        "capital",
        dt.date(2025, 12, 15),
        "Innskutt kapital",
        dr("1920", "100000"),
        cr("2000", "100000"),
    )
    await b.purchase(
        "before",
        invoice("Kontorland AS", dt.date(2025, 12, 20), "500", "25", "6800"),
        "Kontorland AS",
    )
    office = await b.purchase(
        "office",
        invoice("Kontorland AS", dt.date(2026, 1, 10), "1250", "25", "6800"),
        "Kontorland AS",
    )
    await b.purchase(
        "food",
        invoice(
            "Matbutikken AS",
            dt.date(2026, 1, 20),
            "1150",
            "15",
            "6860",
            supplier_org_number="998877665",
        ),
        "Matbutikken AS",
    )
    await b.purchase(
        "train", invoice("Flytoget AS", dt.date(2026, 2, 5), "1120", "12", "7140"), "Flytoget AS"
    )
    await b.reverse("office-reversal", "office", office, dt.date(2026, 2, 20))
    await b.purchase(
        "mixed",
        invoice(
            "Kontorland AS",
            dt.date(2026, 3, 1),
            "2400",
            "25",
            "6800",
            supplier_org_number="912 345 678",
            line_items=(
                LineItem(description="Papir", amount=D("1250"), vat_rate=D("25")),
                LineItem(
                    description="Kaffe", amount=D("1150"), vat_rate=D("15"), account_code="6860"
                ),
            ),
        ),
        "Kontorland AS",
    )
    await b.purchase(
        "receipt",
        ReceiptAttachmentData(
            merchant_name="Adobe Systems",
            amount=D("199.00"),
            date=dt.date(2026, 3, 5),
            vat_rate=D("25"),
            account_code="6552",
        ),
        "Adobe Systems",
    )
    await b.manual(
        "pay-food",
        dt.date(2026, 2, 28),
        "Betaling Matbutikken",
        dr("2400", "1150"),
        cr("1920", "1150"),
    )
    await b.manual(
        "sale",
        dt.date(2026, 3, 15),
        'Salg & <konsulent> "tjenester"',
        dr("1500", "12500", party=FJORD),
        cr("3000", "10000", vat_code="3", vat_part="base"),
        cr("2700", "2500", vat_code="3", vat_part="tax"),
    )
    await b.manual(
        "after", dt.date(2026, 4, 2), "Etter perioden", dr("6300", "9000"), cr("1920", "9000")
    )
    # Nordlys AS: invoiced in December over the bus, paid in part in January (the payment
    # names the customer alike), credited in part by hand in February.
    await b.translated(
        "nordlys-invoice",
        message(
            tenant,
            InvoiceIssued(
                invoice_id="F-1001",
                issue_date=dt.date(2025, 12, 18),
                net_amount=D("4000.00"),
                vat_amount=D("1000.00"),
                customer="Nordlys AS",
                customer_id="K-1001",
                customer_org_number="987 654 321",
            ),
        ),
    )
    await b.translated(
        "nordlys-payment",
        message(
            tenant,
            PaymentReceived(
                payment_id="P-1",
                date=dt.date(2026, 1, 25),
                amount=D("3000.00"),
                invoice_id="F-1001",
                customer="Nordlys AS",
                customer_id="K-1001",
            ),
        ),
    )
    await b.manual(
        "nordlys-credit",
        dt.date(2026, 2, 15),
        "Kreditnota F-1001",
        dr("3000", "400", vat_code="3", vat_part="base"),
        dr("2700", "100", vat_code="3", vat_part="tax"),
        cr("1500", "500", party=NORDLYS),
    )
    # A customer first invoiced after the period (by name only): not in the file.
    await b.translated(
        "later-invoice",
        message(
            tenant,
            InvoiceIssued(
                invoice_id="F-2001",
                issue_date=dt.date(2026, 4, 3),
                net_amount=D("800.00"),
                vat_amount=D("200.00"),
                customer="Senere Kunde AS",
            ),
        ),
    )
    other = LedgerBuilder(uow_factory, "globex")
    await other.manual(
        "foreign", dt.date(2026, 2, 1), "Annen leietaker", dr("6300", "777"), cr("1920", "777")
    )
    await other.translated(
        "foreign-sale",
        message(
            "globex",
            InvoiceIssued(
                invoice_id="G-1",
                issue_date=dt.date(2026, 2, 2),
                net_amount=D("100.00"),
                vat_amount=D("25.00"),
                customer="Globex Kunde",
                customer_id="G-K1",
            ),
        ),
    )
    return b


Balances = dict[str, tuple[Decimal, Decimal]]


def expected_customers(
    builders: list[LedgerBuilder], start: dt.date, end: dt.date
) -> dict[str, tuple[str, str | None, Balances]]:
    """What the file must say of each customer, from the entries as posted: name, org.
    no. (spaces dropped) and (opening, closing) per receivables account, debit − credit."""
    found: dict[str, tuple[str, str | None, Balances]] = {}
    for builder in builders:
        for _, entry in builder.entries.values():
            if entry.date > end:
                continue
            for line in entry.lines:
                party = line.party
                if party is None or party.kind != "customer":
                    continue
                name, org, balances = found.get(party.id, (party.id, None, {}))
                name = party.name or name
                org = (party.org_number or "").replace(" ", "") or org
                if line.account.startswith("15"):
                    opening, closing = balances.get(line.account, (D(0), D(0)))
                    amount = line.debit - line.credit
                    if entry.date < start:
                        opening += amount
                    balances[line.account] = (opening, closing + amount)
                found[party.id] = (name, org, balances)
    return found
