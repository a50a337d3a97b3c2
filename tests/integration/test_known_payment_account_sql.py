"""Issue 13 on SQLite and PostgreSQL: the supplier's known payment account is read from its
earlier approved invoices in the `proposals` projection (a bounded read of the data JSON)."""

from __future__ import annotations

import pytest

from bookkeeper.application.commands import SubmitEvent
from bookkeeper.application.ports import UnitOfWorkFactory
from bookkeeper.domain.review import Outcome
from tests.unit.external_doubles import Harness, agent, invoice

ACCOUNT_A = "8601.11.17947"
ACCOUNT_B = "1503.12.34567"


@pytest.mark.parametrize(
    "uow_factory", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True
)
async def test_an_invoice_to_another_account_than_the_approved_one_waits_with_the_reason(
    uow_factory: UnitOfWorkFactory,
) -> None:
    h = Harness(uow_factory=uow_factory)
    await h.approved(invoice(invoice_number="F-1", payment_account=ACCOUNT_A))

    async def submit(number: str, account: str) -> tuple[str, list[str]]:
        result = await h.handlers.submit(
            SubmitEvent(
                type="InvoiceRegistrationProposed",
                data=invoice(invoice_number=number, payment_account=account),
                principal=agent("acme"),
            )
        )
        assert result.decision is not None and result.confidence is not None
        assert result.decision.outcome is Outcome.AWAITING_REVIEW
        reasons = [r.detail for r in result.confidence.reasons if r.signal == "payment-account"]
        return result.decision.rule, reasons

    rule, reasons = await submit("F-2", ACCOUNT_B)
    assert rule == "payment-account-changed"
    assert len(reasons) == 1 and ACCOUNT_A in reasons[0] and ACCOUNT_B in reasons[0]
    rule, reasons = await submit("F-3", ACCOUNT_A)
    assert rule == "always-review-invoice_registration" and reasons == []


@pytest.mark.parametrize(
    "uow_factory",
    ["memory", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)],
    indirect=True,
)
async def test_a_renamed_supplier_is_found_by_its_organisation_number(
    uow_factory: UnitOfWorkFactory,
) -> None:
    # Migration 0020: the same organisation number under a new trade name is the same
    # supplier; its switched account waits for review with the reason.
    h = Harness(uow_factory=uow_factory)
    await h.approved(
        invoice(invoice_number="F-1", payment_account=ACCOUNT_A, supplier_org_number="976967631")
    )

    async def submit(number: str, supplier: str, org: str | None) -> str:
        result = await h.handlers.submit(
            SubmitEvent(
                type="InvoiceRegistrationProposed",
                data=invoice(
                    invoice_number=number,
                    supplier=supplier,
                    supplier_org_number=org,
                    payment_account=ACCOUNT_B,
                ),
                principal=agent("acme"),
            )
        )
        assert result.decision is not None
        return result.decision.rule

    # "NO 976 967 631 MVA" is the same number in another spelling.
    assert await submit("F-2", "Telia Norge AS", "NO 976 967 631 MVA") == "payment-account-changed"
    # Another company (another number) of a new name: nothing known, no change.
    assert await submit("F-3", "Telia Norge AS", "923609016") != "payment-account-changed"
    # Without a number: by name only, and nothing is known of "Ice Norge AS".
    assert await submit("F-4", "Ice Norge AS", None) != "payment-account-changed"


@pytest.mark.parametrize(
    "backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
async def test_the_org_number_migration_fills_the_rows_already_there(
    request: pytest.FixtureRequest, backend: str
) -> None:
    # Migration 0020 on rows written before it: downgraded past it (the column goes), the
    # invoice stays; upgraded again, its organisation number is read from its data.
    import importlib.util
    from pathlib import Path

    from alembic import command
    from sqlalchemy import create_engine, text

    from bookkeeper.adapters.sql import SqlDatabase
    from bookkeeper.adapters.sql.database import alembic_config

    [path] = Path(__file__).parents[2].glob("migrations/versions/*_proposal_org_number.py")
    spec = importlib.util.spec_from_file_location("org_migration", path)
    assert spec is not None and spec.loader is not None
    migration = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(migration)

    url: str = request.getfixturevalue(f"{backend}_url")
    database = SqlDatabase(url, pool_size=2, max_overflow=2)
    try:
        h = Harness(uow_factory=database.uow_factory())
        await h.approved(invoice(invoice_number="F-1", supplier_org_number="NO 976 967 631 MVA"))
        await h.approved(invoice(invoice_number="F-2", supplier_org_number=None))
    finally:
        await database.dispose()
    config = alembic_config(url)
    command.downgrade(config, migration.down_revision)
    command.upgrade(config, "head")
    engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://"))
    try:
        with engine.connect() as connection:
            found = connection.execute(
                text("SELECT document_number, org_number FROM proposals ORDER BY document_number")
            ).all()
    finally:
        engine.dispose()
    assert [tuple(row) for row in found] == [("F-1", "976967631"), ("F-2", None)]
