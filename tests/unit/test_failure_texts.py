"""Why an execution failed, said for people (application/failures.py): from the error the
executor recorded (safe_error of the adapters' classified errors), never the raw answer."""

from __future__ import annotations

import datetime as dt

import httpx
import pytest

from bookkeeper.adapters.fiken.client import error_for
from bookkeeper.application.errors import ExternalUnavailable
from bookkeeper.application.execution.policy import ExecutionRefused, safe_error
from bookkeeper.application.failures import explain_failure

WHERE = "fiken POST /companies/acme/purchases"
TOKEN = "fiken-token-123456"


def recorded(status: int, body: str) -> str:
    """What the executor writes in the event for Fiken answering `status` with `body`."""
    request = httpx.Request("POST", "https://api.fiken.no/api/v2/companies/acme/purchases")
    response = httpx.Response(status, text=body, request=request)
    return safe_error(error_for(response, WHERE, secret=TOKEN))


def test_a_refused_purchase_names_the_missing_account_and_nothing_of_the_answer() -> None:
    body = (
        '{"error": "Validation failed: 1 error", '
        '"error_description": "Account 6540 does not exist"}'
    )
    error = recorded(400, body)
    assert "Validation failed" in error  # the audit trail keeps the answer
    said = explain_failure(error, "en", kind="invoice_registration")
    assert said == "Fiken refused the purchase: the account 6540 does not exist in Fiken"
    said_nb = explain_failure(error, "nb", kind="invoice_registration")
    assert said_nb == "Fiken avviste kjøpet: kontoen 6540 finnes ikke i Fiken"


def test_an_unexplained_refusal_gives_the_status_only() -> None:
    error = recorded(422, f'{{"message": "bad date", "echo": "{TOKEN}"}}')
    said = explain_failure(error, "nb", kind="receipt_attachment")
    assert said == "Fiken avviste kvitteringen (feilkode 422)"
    assert "bad date" not in said and TOKEN not in said


def test_fiken_not_answering_says_when_it_is_tried_again_in_norwegian_time() -> None:
    error = safe_error(ExternalUnavailable(f"{WHERE} timed out (ReadTimeout)", system="fiken"))
    again = dt.datetime(2026, 11, 20, 13, 5, tzinfo=dt.UTC)  # 14:05 in Oslo
    assert explain_failure(error, "nb", retry_at=again) == (
        "Fiken svarte ikke — prøver igjen kl. 14:05"
    )
    assert explain_failure(recorded(503, "<html>oops</html>"), "en") == (
        "Fiken did not answer; I will try again"
    )


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (401, "Fiken refused our access (the key is wrong, revoked or lacks the API module)"),
        (404, "Fiken could not find what the expense refers to"),
    ],
)
def test_access_and_missing_objects(status: int, expected: str) -> None:
    error = recorded(status, '{"error": "raw text"}')
    assert explain_failure(error, "en", kind="expense_registration") == expected


def test_a_defect_is_an_error_on_our_side_and_our_own_refusal_is_said() -> None:
    defect = safe_error(KeyError("/srv/app/secret.py line 3"))
    assert explain_failure(defect, "en") == (
        "an error on our side (the details are in the audit trail)"
    )
    own = safe_error(ExecutionRefused("the receipt names no Folio event (folioEventId)"))
    assert explain_failure(own, "en") == own
    assert explain_failure(None, "nb").startswith("en feil hos oss")
