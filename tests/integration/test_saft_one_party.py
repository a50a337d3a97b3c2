"""SAF-T: one supplier (or customer) met under several ids is one entry of MasterFiles,
and every line names it by that entry's id — on memory, SQLite and PostgreSQL.

A merchant of executed purchases and the contact `import fiken` names for the same
company (the same organisation number, however it is spelt; without one, the same
normalised name) used to be listed twice, splitting its payables across two ids."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from bookkeeper.adapters.saft.xml_writer import render
from bookkeeper.adapters.system import UuidV7Ids
from bookkeeper.application.authorization import RoleAuthorizer
from bookkeeper.application.ledger import LedgerService
from bookkeeper.application.ports import Principal, UnitOfWorkFactory
from bookkeeper.application.saft import (
    AuditReads,
    CompanySettings,
    SaftExport,
    supplier_id_of,
    transactions,
)
from bookkeeper.domain.events import Party
from bookkeeper.domain.patterns import normalise_merchant
from tests.http_helpers import FixedClock
from tests.saft_checks import NS, check_against_trial_balance, customers, signed, validate
from tests.saft_ledger import END, START, build_ledger, cr, dr

ACCOUNTANT = Principal(subject="anna", tenant_id="acme", roles=frozenset({"accountant"}))
D = Decimal


def suppliers(root: Any) -> dict[str, tuple[str | None, str | None, dict[str, Any]]]:
    return {
        s.findtext("s:SupplierID", namespaces=NS): (
            s.findtext("s:Name", namespaces=NS),
            s.findtext("s:RegistrationNumber", namespaces=NS),
            {
                b.findtext("s:AccountID", namespaces=NS): (
                    signed(b, "Opening"),
                    signed(b, "Closing"),
                )
                for b in s.findall("s:BalanceAccount", NS)
            },
        )
        for s in root.findall("s:MasterFiles/s:Suppliers/s:Supplier", NS)
    }


async def test_one_supplier_and_one_customer_per_organisation_number(
    audit_storage: tuple[UnitOfWorkFactory, AuditReads],
) -> None:
    factory, reads = audit_storage
    builder = await build_ledger(factory)
    # Kontorland AS: executed purchases (merchant "Kontorland AS", org. no. "912 345 678"
    # on one of them) and, from the books, contact 20002 with the same number spelt
    # otherwise: invoiced 1000 in January, 400 paid by a journal entry in February.
    kontorland = Party(
        kind="supplier", id="20002", name="Kontorland AS", org_number="NO 912 345 678 MVA"
    )
    await builder.manual(
        "fiken-kontorland",
        dt.date(2026, 1, 12),
        "Fiken kjøp Kontorland AS",
        dr("6800", "800"),
        dr("2710", "200"),
        cr("2400:20002", "1000", party=kontorland),
    )
    await builder.manual(
        "fiken-kontorland-payment",
        dt.date(2026, 2, 2),
        "Delbetaling",
        dr("2400:20002", "400", party=Party(kind="supplier", id="20002")),
        cr("1920", "400"),
    )
    # Flytoget AS: no org. no. anywhere, the same name: one supplier too.
    await builder.manual(
        "fiken-flytoget",
        dt.date(2026, 2, 10),
        "Fiken kjøp Flytoget",
        dr("7140", "100"),
        cr("2400:20005", "100", party=Party(kind="supplier", id="20005", name="Flytoget AS")),
    )
    # Nordlys AS, customer K-1001 of the invoicing translator, is contact 10001 in the books.
    await builder.manual(
        "fiken-nordlys",
        dt.date(2026, 3, 10),
        "Fiken salg Nordlys",
        dr(
            "1500:10001",
            "2500",
            party=Party(kind="customer", id="10001", name="Nordlys AS", org_number="987654321"),
        ),
        cr("3000", "2000", vat_code="3", vat_part="base"),
        cr("2700", "500", vat_code="3", vat_part="tax"),
    )
    export = SaftExport(
        reads,
        RoleAuthorizer(),
        FixedClock(),
        render,
        software_version="0.1.0",
        company=CompanySettings(name="Acme AS", orgnr="923609016"),
        page_size=4,
    )
    first = await export.export(ACCOUNTANT, START, END)
    data = b"".join([chunk async for chunk in first.chunks])
    root = validate(data)
    ledger = LedgerService(factory, FixedClock(), UuidV7Ids(), RoleAuthorizer())
    check_against_trial_balance(
        root,
        await ledger.trial_balance(ACCOUNTANT, START, END),
        await ledger.trial_balance(ACCOUNTANT, None, END),
        START,
        await ledger.trial_balance(ACCOUNTANT, None, START - dt.timedelta(days=1)),
    )

    found = suppliers(root)
    assert sorted(name or "" for name, _, _ in found.values()) == [
        "Adobe Systems",
        "Flytoget AS",
        "Kontorland AS",
        "Matbutikken AS",
    ]
    # One entry per organisation number, under the books' key, balances of both sources.
    assert found["20002"] == (
        "Kontorland AS",
        "912345678",
        {
            "2400": (D("-500.00"), D("-2900.00")),
            "2400:20002": (D("0"), D("-600.00")),
        },
    )
    assert found["20005"] == (
        "Flytoget AS",
        None,
        {"2400": (D("0"), D("-1120.00")), "2400:20005": (D("0"), D("-100.00"))},
    )
    merged_away = {supplier_id_of(normalise_merchant(n)) for n in ("Kontorland AS", "Flytoget AS")}
    # Every SupplierID in the file names a listed supplier; the merged-away ids are gone.
    used = [
        x.findtext("s:SupplierID", namespaces=NS)
        for x in root.iter()
        if x.find("s:SupplierID", NS) is not None
    ]
    assert used and set(used) <= set(found)
    assert not merged_away & set(used)
    transactions = root.findall("s:GeneralLedgerEntries/s:Journal/s:Transaction", NS)
    kontorland_lines = [
        line.findtext("s:SupplierID", namespaces=NS)
        for t in transactions
        if "Kontorland" in (t.findtext("s:Description", namespaces=NS) or "")
        or t.findtext("s:Description", namespaces=NS) == "Delbetaling"
        for line in t.findall("s:Line", NS)
        if (line.findtext("s:AccountID", namespaces=NS) or "").startswith("24")
    ]
    assert kontorland_lines and set(kontorland_lines) == {"20002"}

    named = customers(root)
    assert named == {
        "10001": (
            "Nordlys AS",
            "987654321",
            {"1500": (D("5000.00"), D("1500.00")), "1500:10001": (D("0"), D("2500.00"))},
        ),
        "K-1002": ("Fjord Fisk AS", None, {"1500": (D("0"), D("12500.00"))}),
    }
    customer_ids = {
        x.findtext("s:CustomerID", namespaces=NS)
        for x in root.iter()
        if x.find("s:CustomerID", NS) is not None
    }
    assert customer_ids == {"10001", "K-1002"}

    # Deterministic: the same books give the same file.
    again = await export.export(ACCOUNTANT, START, END)
    assert b"".join([chunk async for chunk in again.chunks]) == data


async def test_a_download_stopped_midway_leaves_the_snapshot_usable(
    audit_storage: tuple[UnitOfWorkFactory, AuditReads],
) -> None:
    """The next page is read while the current one renders; a stream abandoned then
    waits for that read, so the snapshot's connection is idle and answers again."""
    factory, reads = audit_storage
    await build_ledger(factory)
    async with reads.snapshot("acme") as snapshot:
        stream = transactions(snapshot, START, END, page_size=2)
        first = await anext(stream)
        await stream.aclose()
        assert first.date >= START
        assert (await snapshot.entry_totals(START, END)).entries == 10
        again = [tx.transaction_id async for tx in transactions(snapshot, START, END)]
        assert again[0] == first.transaction_id and len(again) == 10
