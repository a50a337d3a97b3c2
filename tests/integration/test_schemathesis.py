"""Schemathesis against the OpenAPI document, in-process (quality.md, security 7).

The app is the real `create_app` on the memory container; schemathesis loads
`/schema/openapi.json` from it and drives every operation through ASGI (its own client runs
the app's lifespan). Three runs:

- authenticated, as a principal whose roles reach every operation (admin + accountant):
  positive and negative data, all default checks, zero failures;
- unauthenticated: every protected operation answers 401 with a problem document, and
  the response still passes every default check;
- stateful: the state machine schemathesis builds from OpenAPI links. The document does
  not declare links, so the test adds them to the loaded copy (submitEvent → getEvent,
  getProposal, getCorrelation, approveProposal, rejectProposal; postJournalEntry →
  getJournalEntry; uploadFile → downloadFile), and schemathesis walks propose → read →
  approve/reject sequences with all default checks (execution is not part of the HTTP
  surface: the executor is off here, approved proposals wait).

A fourth run drives the read operations' query and path parameters alone with more
examples (`PARAMETER_EXAMPLES`): that is where out-of-range integers and dates once became
500s (ADR 0021).

Examples per operation are kept small so the module runs in about a minute.
"""

from __future__ import annotations

import datetime as dt
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from dependency_injector import providers
from hypothesis import HealthCheck, settings
from schemathesis.python import asgi as schemathesis_asgi

from bookkeeper.entrypoints.http.app import create_app
from bookkeeper.entrypoints.http.problems import PROBLEM_JSON
from bookkeeper.settings import Settings
from tests.http_helpers import memory_container, mint, receipt

SCHEMA_PATH = "/schema/openapi.json"
#: Operations anyone may call (everything else under the API prefix needs a token).
PUBLIC_OPERATIONS = frozenset({"getHealth", "getLiveness", "getReadiness", "getMetrics"})
MAX_EXAMPLES = 8
PARAMETER_EXAMPLES = 30
STATEFUL_EXAMPLES = 15
STATEFUL_STEPS = 6

SETTINGS = settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)

#: Schema-valid requests may be refused for what a schema cannot say. 422 everywhere: the
#: content breaks a business rule (ADR 0007; every route that gives it documents it).
#: 400 only where a rule spans parameters or depends on server state, each named here:
#: the `data` of POST /events is checked against the schema of its `type` (the document
#: declares an object); a bank/books date range spans at most 366 days; a general-ledger
#: or patterns cursor must be one the list handed out; a price table's `source` is one the service
#: is configured with (its set is not the document's). A range backwards (`from` after
#: `to`) is a 400 on every dated route (DATED below; ADR 0007 addendum).
ACCEPTS_VALID = ["2xx", "401", "403", "404", "409", "422", "429"]
SEMANTIC_400 = [
    "submitEvent",
    "listBankTransactions",
    "listMissingReceipts",
    "listSupplierInvoices",
    "listExpenses",
    "getGeneralLedger",
    "listPatterns",
    # The checks take the same bounded date range (POST /check/*).
    "checkMissingReceipts",
    "checkCosts",
    "getPriceTable",
]


def _dated_operations(document: dict[str, Any]) -> list[str]:
    """Operations with a date or timestamp query parameter: a well-formed date outside the
    window every query is held to (1900-01-01..2200-12-31, params.py) is a 400, and a
    document cannot state a range of dates."""
    found = []
    for item in document["paths"].values():
        for operation in item.values():
            if not isinstance(operation, dict):
                continue
            for parameter in operation.get("parameters", []):
                schema = parameter.get("schema", {})
                schemas = [schema, *schema.get("oneOf", [])]
                if parameter["in"] == "query" and any(
                    s.get("format") in {"date", "date-time"} for s in schemas
                ):
                    found.append(operation["operationId"])
                    break
    return found


def _config(token: str | None) -> schemathesis.config.SchemathesisConfig:
    data: dict[str, Any] = {
        "checks": {
            "positive_data_acceptance": {"expected-statuses": ACCEPTS_VALID},
            # Litestar defect, not ours: the automatic OPTIONS answer of a path with two
            # handlers (GET and POST /events) keeps the route of the first one registered
            # and lists `GET, OPTIONS`. Every other check runs.
            "allow_header_conformance": {"enabled": False},
        },
        "operations": [
            {
                "include-operation-id": sorted({*SEMANTIC_400, *DATED}),
                "checks": {
                    "positive_data_acceptance": {"expected-statuses": [*ACCEPTS_VALID, "400"]}
                },
            },
            {
                # A schema-valid "binary" file is mostly not a PDF, JPEG or PNG by its magic
                # bytes, which no schema can say: 415, as for POST /files.
                "include-operation-id": ["submitDocument"],
                "checks": {
                    "positive_data_acceptance": {"expected-statuses": [*ACCEPTS_VALID, "415"]},
                    # A multipart form cannot carry the optional `filename` field as an array:
                    # an empty one is sent as no field at all, which is a valid upload. Since
                    # issue 13 an unreadable file is a proposal in review (201), no longer a
                    # 422 that happened to satisfy this check.
                    "negative_data_rejection": {"enabled": False},
                },
            },
        ],
    }
    if token is not None:
        data["auth"] = {"openapi": {"bearerAuth": {"bearer": token}}}
    return schemathesis.config.SchemathesisConfig.from_dict(data)


#: Built at import: schemathesis generates one test per operation at collection time, so the
#: document must be loaded then (its lazy `from_fixture` loader does not work with pytest 9).
#: Loading it starts the app's lifespan in schemathesis' own event-loop thread. The rate
#: limits are raised: this run is about the contract, not about throttling.
_DATA_DIR = tempfile.TemporaryDirectory(prefix="bk-schemathesis-")
CONTAINER = memory_container(Path(_DATA_DIR.name))
CONTAINER.settings.override(
    providers.Object(
        Settings.for_data_dir(
            Path(_DATA_DIR.name),
            executor_enabled=False,
            rate_limit="1000000/minute",
            rate_limit_writes="1000000/minute",
        )
    )
)
APP = create_app(CONTAINER)
DATED = _dated_operations(APP.openapi_schema.to_schema())
ROOT_TOKEN = mint(CONTAINER, "root", "admin", "accountant", ttl=dt.timedelta(hours=12))
schema = schemathesis.openapi.from_asgi(SCHEMA_PATH, APP, config=_config(ROOT_TOKEN))
anonymous = schemathesis.openapi.from_asgi(SCHEMA_PATH, APP, config=_config(None))


@pytest.fixture(scope="module", autouse=True)
def _stop_app() -> Iterator[None]:
    yield
    schemathesis_asgi.shutdown_lifespans()


@schema.parametrize()
@SETTINGS
def test_every_operation_authenticated(case: Any) -> None:
    case.call_and_validate()


@schema.include(method="GET").parametrize()
@settings(SETTINGS, max_examples=PARAMETER_EXAMPLES)
def test_read_operations_take_any_query_and_path_parameters(case: Any) -> None:
    """More examples for what reads take: query and path parameters, all default checks
    (no 5xx, documented statuses and content types, 400 for what the schema refuses)."""
    case.call_and_validate()


#: Write operations whose bodies carry dates (ADR 0026): a journal entry's date and an
#: approval's corrected dates, driven with as many examples as the read parameters, so
#: that 0001-01-01 and 9999-12-31 reach them (both once ended in date arithmetic).
BODY_DATED = ["postJournalEntry", "approveProposal"]


@schema.include(operation_id=BODY_DATED).parametrize()
@settings(SETTINGS, max_examples=PARAMETER_EXAMPLES)
def test_write_operations_with_dates_in_their_bodies(case: Any) -> None:
    """Bodies (and path parameters) of the dated writes: no 5xx, documented statuses and
    content types."""
    case.call_and_validate()


def test_every_dated_operation_is_found_for_the_400_allowance() -> None:
    """The allowance above is computed from the document; it must find the date routes."""
    assert {"listBankTransactions", "getTrialBalance", "exportSaftFinancial"} <= set(DATED)
    assert {"getApprovalRate", "listSupplierInvoices"} <= set(DATED)


@anonymous.exclude(operation_id=list(PUBLIC_OPERATIONS)).parametrize()
@SETTINGS
def test_every_protected_operation_without_a_token_is_401(case: Any) -> None:
    response = case.call()
    if case.method.upper() == case.operation.method.upper():
        # (The coverage phase also tries methods the route lacks: those are a 405.)
        body = response.json()
        assert response.headers["content-type"][0].startswith(PROBLEM_JSON)
        if response.status_code == 404:
            # A path id that is not a UUID matches no route at all: nothing to protect.
            assert body["detail"].startswith("no route for"), response.text
        else:
            assert response.status_code == 401, response.text
            assert body["status"] == 401
            assert response.headers["www-authenticate"][0].startswith("Bearer")
    case.validate_response(response)


def test_stateful_propose_then_read_and_decide() -> None:
    """Schemathesis' state machine over the links it infers from the document (Location
    headers and matching ids: submitEvent → getEvent/getProposal/approveProposal/…),
    with every default check at every step."""
    machine = schema.as_state_machine()
    machine.run(
        settings=settings(
            max_examples=STATEFUL_EXAMPLES,
            stateful_step_count=STATEFUL_STEPS,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
    )


def test_scripted_propose_approve_read_sequence() -> None:
    """The same sequence spelled out (the random walk above rarely builds a payload its
    type accepts): an agent proposes, a reviewer approves, the proposal, its event and
    correlation are read, and a second proposal is rejected; every answer passes every
    default check of its operation."""
    agent = {"Authorization": f"Bearer {mint(CONTAINER, 'sm-agent', 'agent')}"}
    reviewer = {"Authorization": f"Bearer {mint(CONTAINER, 'sm-reviewer', 'reviewer')}"}

    def call(operation_id: str, headers: dict[str, str], **parts: Any) -> Any:
        case = schema.find_operation_by_id(operation_id).Case(headers=headers, **parts)
        return case.call_and_validate()

    proposals = []
    for number in ("SM-1", "SM-2"):
        submitted = call(
            "submitEvent",
            agent,
            body={"type": "ReceiptAttachmentProposed", "data": receipt(documentNumber=number)},
        )
        assert submitted.status_code == 201, submitted.text
        proposals.append(submitted.json())
    first, second = proposals
    approved = call(
        "approveProposal", reviewer, path_parameters={"event_id": first["proposalId"]}, body={}
    )
    assert approved.json()["proposal"]["status"] == "APPROVED", approved.text
    read = call("getProposal", agent, path_parameters={"proposal_id": first["proposalId"]})
    assert read.json()["decidedBy"] == "human:sm-reviewer"
    event = call("getEvent", agent, path_parameters={"event_id": first["eventId"]})
    assert event.status_code == 200
    history = call(
        "getCorrelation", agent, path_parameters={"correlation_id": first["correlationId"]}
    )
    assert [e["type"] for e in history.json()["items"]][:2] == [
        "ReceiptAttachmentProposed",
        "ReceiptAttachmentApproved",
    ]
    again = call(
        "approveProposal", reviewer, path_parameters={"event_id": first["proposalId"]}, body={}
    )
    assert again.status_code == 409
    rejected = call(
        "rejectProposal",
        reviewer,
        path_parameters={"event_id": second["proposalId"]},
        body={"reason": "duplicate"},
    )
    assert rejected.json()["proposal"]["status"] == "REJECTED"
