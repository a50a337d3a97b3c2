"""Story 6 with VAT, over HTTP on SQLite and PostgreSQL: a CorrectionProposed that changes
an executed purchase's rate or amount names a VAT amount that fits them (within a krone),
else a 422 says the VAT that does. Only its absence was refused: a 25 % VAT named with a
rate corrected to 15 % was accepted, to be booked as 15 % input VAT."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.http_helpers import Api, assert_problem, expense, running_api, sqlite_container


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def api(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Api]:
    url = None if request.param == "sqlite" else request.getfixturevalue("postgres_url")
    async with running_api(tmp_path, container=sqlite_container(tmp_path, url)) as running:
        yield running


async def test_a_correction_naming_a_vat_that_does_not_fit_its_new_rate_is_422(api: Api) -> None:
    # 125,00 kr at 25 % (25,00 kr VAT) corrected to 15 % with the old 25,00 kr named: it was
    # accepted and would book 25,00 kr as 15 % input VAT (15 % of 125,00 kr is 16,30 kr).
    accountant = api.headers("anna", "accountant")
    proposed = await api.propose(
        "ExpenseRegistrationProposed",
        expense(amount="125.00", vatAmount="25.00", vatRate="25", accountCode="7350"),
    )
    target = proposed["proposalId"]
    assert (await api.approve(target)).status_code == 200
    await api.executed(target)

    def correction(vat: str) -> dict[str, Any]:
        changes = {"vatRate": "15", "vatAmount": vat}
        return {"targetProposalId": target, "reason": "Matvarer", "changes": changes}

    wrong = await api.submit("CorrectionProposed", correction("25.00"), headers=accountant)
    problem = assert_problem(wrong, 422, "invalid-proposal")
    assert "16,30 kr" in problem["detail"]
    right = await api.submit("CorrectionProposed", correction("16.30"), headers=accountant)
    assert right.status_code == 201, right.text
