"""SAF-T lines booked from a foreign-currency document (ADR 0051, ADR 0020 addendum):
DebitAmount/CreditAmount carry the NOK Amount and the document's CurrencyCode,
CurrencyAmount and ExchangeRate; NOK lines only the Amount. On memory, SQLite and
PostgreSQL, validated against the SAF-T 1.30 XSD, through small pages (the export still
streams), with a reversal of the foreign purchase carrying its currency too."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from xml.etree import ElementTree

import msgspec
from bookkeeper_example_translators import (
    InvoiceIssued,
    InvoiceIssuedTranslator,
    PaymentReceived,
    PaymentReceivedTranslator,
)

from bookkeeper.adapters.saft.xml_writer import render
from bookkeeper.adapters.system import UuidV7Ids
from bookkeeper.application.authorization import RoleAuthorizer
from bookkeeper.application.event_log import posting_id, stamp
from bookkeeper.application.ledger import LedgerService
from bookkeeper.application.ports import Principal, UnitOfWorkFactory
from bookkeeper.application.postings import EXCHANGE_METADATA
from bookkeeper.application.saft import AuditReads, CompanySettings, SaftExport
from bookkeeper.domain.events import ReceiptAttachmentData
from bookkeeper.domain.ledger import posting_for
from bookkeeper.domain.rules import Exchange, implied_exchange, in_nok
from tests.http_helpers import FixedClock
from tests.saft_checks import amount_lines, file_summary, validate
from tests.saft_ledger import TENANT, LedgerBuilder, _view, message

D = Decimal
ACCOUNTANT = Principal(subject="anna", tenant_id=TENANT, roles=frozenset({"accountant"}))
START, END = dt.date(2026, 1, 1), dt.date(2026, 3, 31)


def _receipt(amount: str, currency: str, day: dt.date, rate: str = "25") -> ReceiptAttachmentData:
    return ReceiptAttachmentData(
        merchant_name="OpenAI",
        amount=D(amount),
        currency=currency,
        date=day,
        vat_rate=D(rate),
        account_code="6810",
    )


async def _foreign_purchase(
    builder: LedgerBuilder, name: str, data: ReceiptAttachmentData, exchange: Exchange
) -> uuid.UUID:
    """A foreign-currency receipt as the executor books it: in NOK at its conversion,
    which its proposal's stream records (the proposal event's metadata, ADR 0051)."""
    pid = uuid.uuid4()
    entry = posting_for(in_nok(data, exchange), proposal_id=str(pid))
    assert entry is not None
    proposed = stamp(
        "ReceiptAttachmentProposed",
        data,
        event_id=uuid.uuid4(),
        actor="book-e",
        at=dt.datetime(2026, 2, 10, 9, tzinfo=dt.UTC),
        correlation_id=pid,
        metadata={EXCHANGE_METADATA: msgspec.to_builtins(exchange)},
    )
    async with builder.uow() as uow:
        await uow.events.append(TENANT, pid, 0, [proposed])
        await uow.commit()
    await builder.post(
        name,
        entry,
        actor="executor",
        entry_id=posting_id(pid),
        proposal=_view(pid, TENANT, "OpenAI", None, data),
    )
    return pid


async def _export(reads: AuditReads) -> ElementTree.Element:
    export = SaftExport(
        reads,
        RoleAuthorizer(),
        FixedClock(),
        render,
        software_version="0.1.0",
        company=CompanySettings(name="Acme AS", orgnr="923609016"),
        page_size=2,
    )
    file = await export.export(ACCOUNTANT, START, END)
    return validate(b"".join([chunk async for chunk in file.chunks]))


def _lines(root: ElementTree.Element) -> list[tuple[str, str, dict[str, str]]]:
    """(transaction description, account, the amount's elements) of every line."""
    return [
        (description, f"{account} {side}", fields)
        for description, account, side, fields in amount_lines(root)
    ]


async def test_foreign_currency_lines_carry_currency_amount_and_rate(
    audit_storage: tuple[UnitOfWorkFactory, AuditReads],
) -> None:
    factory, reads = audit_storage
    builder = LedgerBuilder(factory)
    usd = _receipt("41.00", "USD", dt.date(2026, 2, 10))
    # A reviewer's NOK amount (ADR 0051): the rate is implied by it, six decimals.
    exchange = implied_exchange(
        "USD", D("41.00"), D("452.37"), day=usd.date, source="reviewer", reference="kari"
    )
    target = await _foreign_purchase(builder, "usd", usd, exchange)
    # A published rate with eight significant decimals, at 0 % VAT.
    eur = _receipt("100.00", "EUR", dt.date(2026, 2, 20), rate="0")
    published = Exchange(
        currency="EUR",
        amount=D("100.00"),
        nok_amount=D("1178.35"),
        rate=D("11.7835"),
        rate_date=eur.date,
    )
    await _foreign_purchase(builder, "eur", eur, published)
    await builder.purchase("nok", _receipt("250.00", "NOK", dt.date(2026, 2, 15)), "Kontorland AS")
    await builder.reverse("usd-back", "usd", target, dt.date(2026, 3, 5))

    root = await _export(reads)
    lines = _lines(root)
    summary = file_summary(root)
    assert summary["line_debit"] == summary["total_debit"]
    by_entry: dict[str, list[tuple[str, dict[str, str]]]] = {}
    for description, account, fields in lines:
        by_entry.setdefault(description, []).append((account, fields))
    assert len(by_entry) == 4

    def entry(with_amount: str, **currency: str) -> list[tuple[str, dict[str, str]]]:
        [found] = [
            e
            for e in by_entry.values()
            if any(f["Amount"] == with_amount for _, f in e)
            and all(f.get("CurrencyCode") == currency.get("code") for _, f in e)
            and (
                not currency
                or any(a.endswith(currency["side"]) for a, f in e if f["Amount"] == with_amount)
            )
        ]
        return found

    rate = "11.033415"
    usd_lines = {account: fields for account, fields in entry("452.37", code="USD", side="credit")}
    # The payment line carries the document's own amount; the others theirs at the rate.
    assert usd_lines == {
        "6810 debit": {
            "Amount": "361.90",
            "CurrencyCode": "USD",
            "CurrencyAmount": "32.80",
            "ExchangeRate": rate,
        },
        "2710 debit": {
            "Amount": "90.47",
            "CurrencyCode": "USD",
            "CurrencyAmount": "8.20",
            "ExchangeRate": rate,
        },
        "1920 credit": {
            "Amount": "452.37",
            "CurrencyCode": "USD",
            "CurrencyAmount": "41.00",
            "ExchangeRate": rate,
        },
    }
    # Its reversal is the same document's amounts, on the other sides.
    reversal = {account: fields for account, fields in entry("452.37", code="USD", side="debit")}
    assert reversal == {
        "6810 credit": usd_lines["6810 debit"],
        "2710 credit": usd_lines["2710 debit"],
        "1920 debit": usd_lines["1920 credit"],
    }
    eur_lines = {account: fields for account, fields in entry("1178.35", code="EUR", side="credit")}
    assert eur_lines == {
        "6810 debit": {
            "Amount": "1178.35",
            "CurrencyCode": "EUR",
            "CurrencyAmount": "100.00",
            "ExchangeRate": "11.7835",
        },
        "1920 credit": {
            "Amount": "1178.35",
            "CurrencyCode": "EUR",
            "CurrencyAmount": "100.00",
            "ExchangeRate": "11.7835",
        },
    }
    # A NOK document's lines carry the Amount only.
    nok = entry("250.00")
    assert nok and all(set(fields) == {"Amount"} for _, fields in nok)
    # Each foreign entry's currency amounts add up on both sides, as its NOK amounts do.
    for entry_lines in by_entry.values():
        sums = {"debit": D(0), "credit": D(0)}
        for account, fields in entry_lines:
            if "CurrencyAmount" in fields:
                sums[account.split()[1]] += D(fields["CurrencyAmount"])
        assert sums["debit"] == sums["credit"]
    for _, _, fields in lines:
        if "CurrencyAmount" in fields:
            product = D(fields["CurrencyAmount"]) * D(fields["ExchangeRate"])
            assert abs(product - D(fields["Amount"])) < D("0.01") * D(fields["ExchangeRate"])


def test_the_line_currency_rules() -> None:
    from bookkeeper.application.saft import line_currency

    exchange = Exchange(
        currency="jpy",
        amount=D("5000"),
        nok_amount=D("353.50"),
        rate=D("0.0707"),
        rate_date=dt.date(2026, 2, 1),
    )
    whole = line_currency(D("353.50"), exchange)
    assert whole is not None and (whole.code, whole.amount) == ("JPY", D("5000.00"))
    part = line_currency(D("70.70"), exchange)
    assert part is not None and part.amount == D("1000.00")
    assert line_currency(D("1.00"), None) is None
    for bad in ({"currency": "US"}, {"currency": "U$D"}, {"rate": D(0)}):
        assert line_currency(D("1.00"), msgspec.structs.replace(exchange, **bad)) is None  # type: ignore[arg-type]
    long_rate = msgspec.structs.replace(exchange, rate=D("0.070712345678"))
    found = line_currency(D("70.70"), long_rate)
    assert found is not None and found.rate == D("0.07071235")


def test_an_entrys_currency_amounts_add_up_like_its_nok_amounts() -> None:
    from bookkeeper.application.saft import AuditLine, transaction_of

    exchange = Exchange(
        currency="USD",
        amount=D("10.00"),
        nok_amount=D("30.00"),
        rate=D("3"),
        rate_date=dt.date(2026, 2, 1),
    )
    entry = uuid.uuid4()

    def line(number: int, account: str, debit: str = "0", credit: str = "0") -> AuditLine:
        return AuditLine(
            entry_id=entry,
            line_no=number,
            position=1,
            date=dt.date(2026, 2, 1),
            account=account,
            debit=D(debit),
            credit=D(credit),
            description="x",
            entry_description="x",
            vat_code=None,
            vat_part=None,
            source="receipt",
            posted_at=dt.datetime(2026, 2, 1, tzinfo=dt.UTC),
            actor="executor",
            supplier_id=None,
            exchange=exchange,
        )

    # Each 10.00 kr is 3.33 USD back at 3: 9.99 against the document's 10.00.
    lines = [
        line(1, "6810", debit="10.00"),
        line(2, "6300", debit="10.00"),
        line(3, "2710", debit="10.00"),
        line(4, "1920", credit="30.00"),
    ]
    out = transaction_of(lines).lines
    amounts = [(x.account, x.currency.amount if x.currency else None) for x in out]
    assert amounts == [
        ("6810", D("3.34")),
        ("6300", D("3.33")),
        ("2710", D("3.33")),
        ("1920", D("10.00")),
    ]
    # In mixed currencies nothing is moved.
    other = msgspec.structs.replace(
        lines[1], exchange=msgspec.structs.replace(exchange, currency="EUR")
    )
    mixed = transaction_of([lines[0], other, lines[2], lines[3]]).lines
    assert [x.currency.amount for x in mixed if x.currency] == [D("3.33")] * 3 + [D("10.00")]


async def test_bus_sales_and_payments_in_a_currency_carry_it_in_the_file(
    audit_storage: tuple[UnitOfWorkFactory, AuditReads],
) -> None:
    """A sale, a credit note and a payment in EUR from the bus (the example translators,
    booked by LedgerService.record and by the batch append, record_many) are in NOK at the
    sender's rate, and their lines carry the EUR amounts and the rate as a foreign
    purchase's do. Before, the conversion was only in the description: the file said
    nothing of it. A payment with agio (two rates) and a NOK sale carry the Amount only."""
    factory, reads = audit_storage
    ledger = LedgerService(factory, FixedClock(), UuidV7Ids(), RoleAuthorizer())
    system = Principal(subject="bus", tenant_id=TENANT, roles=frozenset({"system"}))
    customer = {"customer": "Müller GmbH", "customer_id": "DE-1", "customer_country": "DE"}
    eur = {"currency": "EUR", "exchange_rate": D("11.6543")}
    sale = InvoiceIssued(
        invoice_id="F-1",
        issue_date=dt.date(2026, 2, 2),
        net_amount=D("1000.00"),
        vat_amount=D("0.00"),
        **customer,
        **eur,
    )
    credit = InvoiceIssued(
        invoice_id="F-2",
        issue_date=dt.date(2026, 2, 3),
        net_amount=D("200.00"),
        vat_amount=D("0.00"),
        credit_note=True,
        credited_invoice_id="F-1",
        **customer,
        **eur,
    )
    paid = PaymentReceived(
        payment_id="P-1",
        date=dt.date(2026, 2, 4),
        amount=D("300.00"),
        invoice_id="F-1",
        customer="Müller GmbH",
        customer_id="DE-1",
        **eur,
    )
    agio = PaymentReceived(
        payment_id="P-2",
        date=dt.date(2026, 2, 5),
        amount=D("100.00"),
        invoice_id="F-1",
        customer_id="DE-1",
        currency="EUR",
        exchange_rate=D("11.80"),
        settled_nok_amount=D("1165.43"),
    )
    home = InvoiceIssued(
        invoice_id="F-3", issue_date=dt.date(2026, 2, 6), net_amount=D("80"), vat_amount=D("20")
    )
    await ledger.record(system, InvoiceIssuedTranslator().translate(message(TENANT, sale)))
    answers = await ledger.record_many(
        [
            (system, InvoiceIssuedTranslator().translate(message(TENANT, credit))),
            (system, PaymentReceivedTranslator().translate(message(TENANT, paid))),
            (system, PaymentReceivedTranslator().translate(message(TENANT, agio))),
            (system, InvoiceIssuedTranslator().translate(message(TENANT, home))),
        ]
    )
    assert not [a for a in answers if isinstance(a, Exception)], answers

    by_entry: dict[str, dict[str, dict[str, str]]] = {}
    for description, account, fields in _lines(await _export(reads)):
        by_entry.setdefault(description.split()[1], {})[account] = fields
    rate = "11.6543"
    assert by_entry["F-1"] == {
        "1500 debit": {
            "Amount": "11654.30",
            "CurrencyCode": "EUR",
            "CurrencyAmount": "1000.00",
            "ExchangeRate": rate,
        },
        "3100 credit": {
            "Amount": "11654.30",
            "CurrencyCode": "EUR",
            "CurrencyAmount": "1000.00",
            "ExchangeRate": rate,
        },
    }
    credited = {"CurrencyCode": "EUR", "CurrencyAmount": "200.00", "ExchangeRate": rate}
    assert by_entry["F-2"] == {
        "3100 debit": {"Amount": "2330.86", **credited},
        "1500 credit": {"Amount": "2330.86", **credited},
    }
    received = {"CurrencyCode": "EUR", "CurrencyAmount": "300.00", "ExchangeRate": rate}
    assert by_entry["P-1"] == {
        "1920 debit": {"Amount": "3496.29", **received},
        "1500 credit": {"Amount": "3496.29", **received},
    }
    assert all(set(fields) == {"Amount"} for fields in by_entry["P-2"].values())
    assert all(set(fields) == {"Amount"} for fields in by_entry["F-3"].values())
