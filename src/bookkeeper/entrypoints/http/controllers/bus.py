"""/bus/events: the in-process bus (the embedded default) — hand in one external event.

With no NATS configured (BOOKKEEPER_NATS_URL unset) this is how another service on the
same machine books a business event: the same envelope, translators, exactly-once ids
and ABAC as the JetStream consumer, but the caller gets the reason of a refusal back (a
problem) instead of a dead letter.
"""

import uuid
from typing import Annotated, Any, Literal

import msgspec
from litestar import Controller, Response, post
from litestar.datastructures import ResponseHeader
from litestar.di import NamedDependency
from litestar.params import JSONBody
from msgspec import Meta

from bookkeeper.application.account_names import ACCOUNT_TYPES
from bookkeeper.application.bus import BusIntake
from bookkeeper.application.translation import MAX_NAME, Rejected
from bookkeeper.entrypoints.http.controllers.events import API_PREFIX
from bookkeeper.entrypoints.http.controllers.ledger import JournalEntryOut, entry_out
from bookkeeper.entrypoints.http.decoding import StrictJson
from bookkeeper.entrypoints.http.problems import documented, problem_response
from bookkeeper.entrypoints.http.security import AuthenticatedRequest
from bookkeeper.entrypoints.http.wire import Problem, RequestBody, ResponseBody

Name = Annotated[str, Meta(min_length=1, max_length=MAX_NAME)]


class BusMessageIn(RequestBody, frozen=True, kw_only=True):
    """One external business event in the bus envelope (see the example plugin's README
    for each type's `data`)."""

    type: Annotated[Name, Meta(examples=["InvoiceIssued"])]
    source: Annotated[Name, Meta(examples=["invoicing"])]
    tenant: Annotated[Name, Meta(examples=["acme"])]
    data: dict[str, Any]
    id: Annotated[str, Meta(max_length=200)] | None = None


class AccountRecordedOut(ResponseBody, frozen=True, kw_only=True):
    """An Accounts Master message kept as tenant data: the account as named from now on
    (trial balance, general ledger, unknown-accounts) and the event that records it."""

    type: Literal["AccountCreated", "AccountUpdated"]
    tenant: str
    code: str
    name: str
    event_id: uuid.UUID


class BusController(Controller):
    """External events handed in without a message broker."""

    path = "/bus/events"
    tags = ["bus"]  # noqa: RUF012 - Litestar reads these class attributes

    @post(
        "/",
        operation_id="postBusEvent",
        summary="Book one external business event through its translator",
        status_code=201,
        dto=StrictJson[BusMessageIn],
        return_dto=None,
        response_headers=[
            ResponseHeader(
                name="Idempotent-Replayed",
                description="`true` when this event was booked before (one entry)",
                required=False,
                documentation_only=True,
            ),
        ],
        responses=documented(401, 403, 409, 413, 415, 422, 503),
    )
    async def post_event(
        self,
        data: JSONBody[BusMessageIn],
        request: AuthenticatedRequest,
        bus_intake: NamedDependency[BusIntake],
    ) -> Response[JournalEntryOut] | Response[AccountRecordedOut] | Response[Problem]:
        """Translate the event with the installed translator for its `type` and record the
        journal entry (201). The entry id is derived from the event's business key, so the
        same event again books nothing new (`Idempotent-Replayed: true`). Needs
        `bus:ingest` (system, admin) and a message for the caller's own tenant (else 403);
        an unknown type, data that does not match the type's schema or an entry that can
        never be booked (unbalanced, over the caller's approval limit) is a 422 with the
        reason in `code`: `unknown-event-type`, `malformed-message`, `not-bookable`.

        The Accounts Master's `AccountCreated` / `AccountUpdated` (`data: {code, name}`)
        are accepted too, as its NATS subject takes them: kept as tenant data (201, the
        account as recorded; the same message again: `Idempotent-Replayed: true`), their
        names shown in the trial balance and the general ledger."""
        raw = msgspec.json.encode(
            {
                "type": data.type,
                "source": data.source,
                "tenant": data.tenant,
                "data": data.data,
                **({"id": data.id} if data.id is not None else {}),
            }
        )
        if data.type in ACCOUNT_TYPES:
            try:
                account = await bus_intake.submit_account(request.user, raw)
            except Rejected as error:
                return problem_response(422, str(error), error.code)
            return Response(
                AccountRecordedOut(
                    type="AccountCreated" if account.type == "AccountCreated" else "AccountUpdated",
                    tenant=account.tenant,
                    code=account.code,
                    name=account.name,
                    event_id=account.event_id,
                ),
                status_code=201,
                headers={} if account.new else {"Idempotent-Replayed": "true"},
            )
        try:
            posted = await bus_intake.submit(request.user, raw)
        except Rejected as error:
            return problem_response(422, str(error), error.code)
        headers = {"Location": f"{API_PREFIX}/journal-entries/{posted.entry_id}"}
        if posted.replayed:
            headers["Idempotent-Replayed"] = "true"
        return Response(entry_out(posted), status_code=201, headers=headers)
