"""The /app routes: login, the review queue, one proposal beside its document, the reports.

Every page is rendered on the server (Jinja2, autoescaped); the only script is a few lines
of progressive enhancement (static/app.js), and every form works without it. Actions go
through the same application services as the REST API, with the signed-in Principal:
approve and reject are `ApproveProposal` / `RejectProposal` dispatched to Handlers (four
eyes, ABAC, approval limits and departments apply unchanged); reports come from
LedgerService, and spending from SpendingService, which both check `reports:read`. A
refusal is shown as a sentence on the page with its HTTP status (403, 404, 409, 422),
never a 500.
"""

import datetime as dt
import re
import secrets
import uuid
from collections.abc import Callable
from decimal import Decimal
from importlib import resources
from typing import Any, Final
from urllib.parse import parse_qsl, quote, urlencode, urlsplit

import msgspec
from jinja2 import Environment, PackageLoader, select_autoescape
from litestar import Request, Response, get, post
from litestar.config.csrf import CSRFConfig
from litestar.di import NamedDependency, Provide
from litestar.exceptions import HTTPException, NotFoundException
from litestar.middleware import DefineMiddleware
from litestar.middleware.csrf import CSRFMiddleware
from litestar.params import FromPath
from litestar.response import Redirect
from litestar.utils.scope.state import ScopeState

from bookkeeper.adapters.auth.oidc_login import OidcLogin, pkce_pair
from bookkeeper.application.commands import ApproveProposal, RejectProposal, RetryExecution
from bookkeeper.application.errors import ApplicationError, ExternalError, InvalidToken
from bookkeeper.application.failures import explain_error, explain_failure
from bookkeeper.application.ledger import ChartUnavailable, GeneralLedgerPage, LedgerService
from bookkeeper.application.messages import sentence, shown_kind
from bookkeeper.application.people import People
from bookkeeper.application.ports import EventFilter, Principal, ProposalFilter, ProposalView
from bookkeeper.application.queries import MAX_PAGE
from bookkeeper.application.spending import GROUPS as SPENDING_GROUPS
from bookkeeper.domain.approval import SecondApproverRequired
from bookkeeper.domain.deduction import no_deduction, no_deduction_reason
from bookkeeper.domain.errors import (
    BookkeeperError,
    DomainError,
    ProposalNotFailed,
    ProposalNotPending,
)
from bookkeeper.domain.events import (
    PROPOSAL_PAYLOAD,
    RETRY_TYPES,
    ApprovedData,
    Corrections,
    EndorsedData,
    ExecutionRetriedData,
    Kind,
    RejectedData,
    Status,
)
from bookkeeper.domain.numerals import parse_written_amount, parse_written_rate
from bookkeeper.domain.text import tidy
from bookkeeper.entrypoints.http.controllers.files import download_type
from bookkeeper.entrypoints.http.controllers.ledger import (
    balance_sheet_csv,
    general_ledger_csv,
    income_statement_csv,
    trial_balance_csv,
    vat_csv,
)
from bookkeeper.entrypoints.http.controllers.spending import (
    _default_range,
    cost_report_csv,
    report_out,
)
from bookkeeper.entrypoints.http.params import EARLIEST, LATEST
from bookkeeper.entrypoints.http.problems import _status_of
from bookkeeper.entrypoints.http.ratelimit import RateLimitMiddleware
from bookkeeper.entrypoints.http.routing import FreshRouter
from bookkeeper.entrypoints.http.runtime import Runtime
from bookkeeper.entrypoints.web import charts, i18n
from bookkeeper.entrypoints.web.session import (
    APP_PATH,
    CSRF_COOKIE,
    STATE_COOKIE,
    LoginRequired,
    Sessions,
)
from bookkeeper.settings import Settings

#: Shown inline beside a proposal (anything else is offered as a download).
INLINE_TYPES: Final = frozenset({"application/pdf", "image/jpeg", "image/png"})
STATIC: Final = {"app.css": "text/css", "app.js": "text/javascript"}
PAGE: Final = 50
MAX_FIELD: Final = 2000
#: The spending page's chart: the days up to the end of the range.
SPENDING_DAYS: Final = 30
#: A route's `opt` key naming the query parameters its page reads, each one value
#: (`single_values`); `lang` is every page's.
QUERY: Final = "bookkeeper.query"
EVERY_PAGE_QUERY: Final = ("lang",)
_PERIOD: Final = ("start", "end", "format")

_env = Environment(
    loader=PackageLoader("bookkeeper.entrypoints.web", "templates"),
    autoescape=select_autoescape(default=True, default_for_string=True),
    trim_blocks=True,
    lstrip_blocks=True,
)


# --- rendering ------------------------------------------------------------------------


def _csrf(request: Request[Any, Any, Any]) -> str:
    token = ScopeState.from_scope(request.scope).csrf_token
    return token if isinstance(token, str) else ""


def render(
    request: Request[Any, Any, Any],
    template: str,
    *,
    status: int = 200,
    user: Principal | None = None,
    address: str | None = None,
    **context: Any,
) -> Response[str]:
    """The page `template` in the request's language. `address`: the one (path and
    query) that shows it by GET when it answers a form (a refused approval is shown at
    the form's action, which is no page: the language link must lead to the proposal; a
    refused login keeps where it leads after)."""
    lang = i18n.choose(request)
    other = "en" if lang == "nb" else "nb"
    shown_at, _, query = (address or "").partition("?")
    kept = dict(parse_qsl(query)) if address is not None else request.query_params
    shown_at = shown_at or request.url.path

    def t(key: str, **values: object) -> str:
        return i18n.text(key, lang, **values)

    html = _env.get_template(template).render(
        lang=lang,
        t=t,
        money=lambda value: i18n.money(value, lang),
        when=lambda value: i18n.when(value, lang),
        day=lambda value: i18n.day(value, lang),
        entry=lambda value: i18n.entry_text(value, lang),
        score=lambda value: i18n.score(value, lang),
        field=lambda key, value: i18n.field_value(key, value, lang),
        signal=lambda name: i18n.signal(name, lang),
        effect=lambda value: i18n.effect(value, lang),
        #: A confidence reason or warning (written in English) in the page's language.
        say=lambda detail: sentence(str(detail or ""), lang),
        #: Why a proposal's last attempt failed, in words of our own (the raw is shown too).
        failure=lambda view: explain_failure(
            view.last_error,
            lang,
            kind=view.kind,
            retry_at=view.next_attempt_at if view.status is Status.APPROVED else None,
        ),
        #: The kind a proposal is shown as: a supplier's credit note by that name (ADR 0054).
        kind_of=lambda view: shown_kind(view.kind, view.data),
        #: A person by name (application/people.py), an actor of an event or a decision.
        who=lambda actor: _people(request).name(
            str(actor) if actor else None, lang, tenant=user.tenant_id if user else None
        ),
        user=user,
        csrf=_csrf(request),
        path=request.url.path,
        query=dict(request.query_params),
        other_lang=other,
        lang_link=shown_at
        + "?"
        + urlencode({**{k: v for k, v in kept.items() if k != "lang"}, "lang": other}),
        **context,
    )
    response: Response[str] = Response(
        html,
        status_code=status,
        media_type="text/html",  # Litestar adds the charset
    )
    if request.query_params.get("lang") in i18n.LANGS:
        response.set_cookie(
            i18n.LANG_COOKIE, lang, path=APP_PATH, httponly=True, samesite="lax", max_age=31536000
        )
    return response


def _q(request: Request[Any, Any, Any], name: str) -> str | None:
    """A query parameter, trimmed (None when absent or empty)."""
    value = request.query_params.get(name)
    return str(value).strip()[:MAX_FIELD] or None if value is not None else None


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def _field(form: Any, name: str) -> str:
    value = form.get(name)
    return str(value).strip()[:MAX_FIELD] if value is not None else ""


def _words(form: Any, name: str) -> str:
    """A reason or comment as written, never cut: the domain refuses one longer than it
    keeps (proposals.MAX_REASON) with a sentence, where a cut would record the first part
    as if it were all the reviewer wrote (the request's body limit bounds it)."""
    value = form.get(name)
    return str(value).strip() if value is not None else ""


def _here(request: Request[Any, Any, Any]) -> str:
    """The local path (and query) to come back to after logging in."""
    query = request.url.query
    return request.url.path + (f"?{query}" if query else "")


def _safe_next(value: str | None) -> str:
    """Only a path of this app (no scheme, no host, no //): never an open redirect."""
    if value and value.startswith(APP_PATH + "/") and "//" not in value and "\\" not in value:
        return value
    return APP_PATH + "/review"


# --- login ------------------------------------------------------------------------------


def _oidc(settings: Settings) -> OidcLogin | None:
    if settings.oidc_issuer and settings.oidc_client_id:
        return OidcLogin(settings.oidc_issuer, settings.oidc_client_id, settings.oidc_client_secret)
    return None


def _address(request: Request[Any, Any, Any]) -> str:
    """The client's address, as the server saw it (behind a proxy: as the server was told
    to trust, e.g. uvicorn --forwarded-allow-ips)."""
    return request.client.host if request.client is not None else "unknown"


def _login_routes(
    sessions: Sessions, oidc: OidcLogin | None, limiter: RateLimitMiddleware | None = None
) -> list[Any]:
    async def attempt(request: Request[Any, Any, Any]) -> None:
        """One login attempt of the client's address (ADR 0040 §5)."""
        if limiter is not None:
            await limiter.spend_login(_address(request))

    @get("/login", include_in_schema=False, opt={QUERY: ("next", "expired")})
    async def login_form(request: Request[Any, Any, Any]) -> Response[str]:
        target = _safe_next(_q(request, "next"))
        return render(request, "login.html", next=target, oidc=oidc is not None)

    @post("/login", include_in_schema=False, status_code=303)
    async def login(request: Request[Any, Any, Any]) -> Response[Any]:
        await attempt(request)
        form = await request.form()
        token = str(form.get("token") or "")
        target = _safe_next(_field(form, "next"))
        try:
            await sessions.verify(token)
        except InvalidToken as error:
            return render(
                request,
                "login.html",
                status=401,
                address=f"{APP_PATH}/login?" + urlencode({"next": target}),
                next=target,
                oidc=oidc is not None,
                error=explain_error(error, i18n.choose(request)),
            )
        response: Response[Any] = Redirect(target, status_code=303)
        sessions.start(response, request, token)
        return response

    @post("/logout", include_in_schema=False, status_code=303)
    async def logout(request: Request[Any, Any, Any]) -> Response[Any]:
        response: Response[Any] = Redirect(APP_PATH + "/login", status_code=303)
        sessions.end(response)
        return response

    def callback_uri(request: Request[Any, Any, Any]) -> str:
        return str(request.base_url).rstrip("/") + APP_PATH + "/oidc/callback"

    @get("/oidc/start", include_in_schema=False, opt={QUERY: ("next",)})
    async def oidc_start(request: Request[Any, Any, Any]) -> Response[Any]:
        if oidc is None:
            raise NotFoundException("no identity provider is configured")
        state = secrets.token_urlsafe(24)
        verifier, challenge = pkce_pair()
        url = await oidc.authorization_url(callback_uri(request), state, challenge)
        response: Response[Any] = Redirect(url, status_code=303)
        response.set_cookie(
            STATE_COOKIE,
            f"{state} {verifier} {_safe_next(_q(request, 'next'))}",
            path=APP_PATH + "/oidc",
            httponly=True,
            samesite="lax",
            secure=request.url.scheme == "https",
            max_age=600,
        )
        return response

    @get("/oidc/callback", include_in_schema=False, opt={QUERY: ("code", "state", "error")})
    async def oidc_callback(request: Request[Any, Any, Any]) -> Response[Any]:
        if oidc is None:
            raise NotFoundException("no identity provider is configured")
        await attempt(request)
        code, state, error = _q(request, "code"), _q(request, "state"), _q(request, "error")
        saved = (request.cookies.get(STATE_COOKIE) or "").split(" ")
        try:
            if error:
                raise InvalidToken(f"the identity provider said {error[:100]}")
            if len(saved) != 3 or not state or not secrets.compare_digest(saved[0], state):
                raise InvalidToken("the login was not started here, or took too long")
            if not code:
                raise InvalidToken("the identity provider gave no code")
            token = await oidc.exchange(code, saved[1], callback_uri(request))
            await sessions.verify(token)
        except InvalidToken as refused:
            return render(
                request, "login.html", status=401, next=APP_PATH + "/review", oidc=True,
                error=explain_error(refused, i18n.choose(request)),
            )  # fmt: skip
        response: Response[Any] = Redirect(_safe_next(saved[2]), status_code=303)
        response.delete_cookie(STATE_COOKIE, path=APP_PATH + "/oidc")
        sessions.start(response, request, token)
        return response

    return [login_form, login, logout, oidc_start, oidc_callback]


# --- the review queue ---------------------------------------------------------------------


def _reading_warnings(view: ProposalView, history: list[Any]) -> list[str]:
    """What the reader doubted about the proposal's document (its DocumentExtracted
    events' warnings: hidden or instruction-like text, no VAT, a tip, a credit note, …),
    once each, in the order found: the reviewer weighs them before deciding."""
    found: dict[str, None] = {}
    document = view.data.get("documentHash")
    for event in history:
        if event.type != "DocumentExtracted":
            continue
        data = event.data
        if document and getattr(data, "document_hash", document) != document:
            continue
        for warning in getattr(data, "warnings", ()) or ():
            found.setdefault(str(warning), None)
    # The pipeline's own (a VAT rate or due date it assumed), recorded with the proposal.
    first = _proposed(view, history)
    own = first.metadata.get(_WARNINGS) if first is not None else None
    for warning in own if isinstance(own, list) else ():
        found.setdefault(str(warning), None)
    return list(found)


def _deduction_notes(view: ProposalView) -> list[str]:
    """Why the proposal is booked without input VAT (ADR 0055): an account it is booked on
    — as proposed, or as the reviewer corrected it — carries no deduction right
    (representation, mval. § 8-3); shown beside the reading warnings, in Norwegian."""
    corrected = (view.corrections or {}).get("accountCode")
    account = corrected if isinstance(corrected, str) and corrected else view.account_code
    items = view.data.get("lineItems")
    used = [account] + [
        item.get("accountCode") or account
        for item in (items if isinstance(items, list) else ())
        if isinstance(item, dict)
    ]
    return [
        no_deduction_reason(code)
        for code in dict.fromkeys(used)
        if isinstance(code, str) and no_deduction(code)
    ]


def _note(event: Any) -> str:
    """What the person who decided wrote with the decision ("" for none): an approval's
    or a first approval's comment, a rejection's reason, a retry's comment. It is kept in
    the event, and the history is where a second approver or a later reader finds it."""
    data = event.data
    if isinstance(data, ApprovedData | EndorsedData | ExecutionRetriedData):
        return data.comment or ""
    if isinstance(data, RejectedData):
        return data.reason
    return ""


def _history_meta(view: ProposalView, history: list[Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The proposal event's confidence and review-rule metadata (empty when absent)."""
    first = _proposed(view, history)
    if first is None:
        return {}, {}
    return first.metadata.get("confidence") or {}, first.metadata.get("review") or {}


def _proposed(view: ProposalView, history: list[Any]) -> Any:
    """The proposal's first event (None when the history does not hold it)."""
    for event in history:
        if event.stream_id == view.id and event.version == 1:
            return event
    return None


def _credited(view: ProposalView, history: list[Any]) -> str | None:
    """The proposal of the invoice a credit note credits, as its submission found it
    (metadata `creditedProposal`, ADR 0054); None when there is none."""
    for event in history:
        if event.stream_id == view.id and event.version == 1:
            found = event.metadata.get("creditedProposal")
            return found if isinstance(found, str) else None
    return None


#: Where the pipeline names the fields a document did not show (pipeline.UNREAD_SOURCE_KEY)
#: and records the warnings it added itself (defaults it assumed; handlers.submit).
_UNREAD: Final = "unread"
_WARNINGS: Final = "warnings"


def _unread(view: ProposalView, history: list[Any]) -> frozenset[str]:
    """The fields the proposal's document did not show: the approval must correct each."""
    first = _proposed(view, history)
    source = first.metadata.get("source") if first is not None else None
    unread = str(source.get(_UNREAD, "")) if isinstance(source, dict) else ""
    return frozenset(name for name in unread.split(",") if name)


#: The corrections the approve form offers, in its order: (form and Corrections name, the
#: proposal data's key, how it is read). Only those the proposal's payload has are shown
#: (domain.events.PROPOSAL_PAYLOAD), so a form never offers what a correction may not
#: change; the NOK amount is a foreign-currency document's conversion (ADR 0051).
FORM_FIELDS: Final[tuple[tuple[str, str, str], ...]] = (
    ("amount", "amount", "amount"),
    ("date", "date", "date"),
    ("due_date", "dueDate", "date"),
    ("merchant_name", "merchantName", "text"),
    ("supplier", "supplier", "text"),
    ("account_code", "accountCode", "text"),
    ("vat_rate", "vatRate", "rate"),
    ("vat_amount", "vatAmount", "amount"),
    ("nok_amount", "nokAmount", "amount"),
)
_NORWEGIAN_DAY: Final = re.compile(r"([0-9]{1,2})[./]([0-9]{1,2})[./]([0-9]{4})")
_ISO_DAY: Final = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def parse_number(text: str, *, rate: bool = False) -> Decimal:
    """A number as a reviewer types it ("1 234,50", "1.234,50 kr", "180.20", "25 %",
    "−180,20"), read as Discord's corrections read it: domain.numerals'
    parse_written_amount, or with `rate` parse_written_rate (whose unit rules — "%" on a
    rate, "kr"/"NOK"/",-" on an amount — are there, once; ADR 0060). ValueError otherwise."""
    try:
        return parse_written_rate(text) if rate else parse_written_amount(text)
    except ValueError:
        raise ValueError(text) from None


def parse_day(text: str) -> dt.date:
    """A day as written in Norway ("18.11.2026", "1.2.2026", "18/11/2026") or ISO 8601
    ("2026-11-18"); ValueError otherwise (a day that does not exist too)."""
    value = text.strip()
    found = _NORWEGIAN_DAY.fullmatch(value)
    try:
        if found is not None:
            day, month, year = (int(part) for part in found.groups())
            return dt.date(year, month, day)
        if _ISO_DAY.fullmatch(value):
            return dt.date.fromisoformat(value)
    except ValueError:
        pass
    raise ValueError(text)


class FormErrors(ValueError):
    """The fields of the approve form that could not be read: (field, text, problem key)."""

    def __init__(self, errors: list[tuple[str, str, str]]) -> None:
        super().__init__("; ".join(f"{name}: {text}" for name, text, _ in errors))
        self.errors = errors


def offered_fields(view: ProposalView) -> list[tuple[str, str, str]]:
    """The FORM_FIELDS a correction of this proposal may change (none for a pattern
    suggestion, a reversal or a correction: they are approved or rejected as they are)."""
    try:
        kind = Kind(view.kind)
    except ValueError:
        return []
    payload = PROPOSAL_PAYLOAD.get(kind)
    if payload is None or kind is Kind.PATTERN_SUGGESTION:
        return []
    fields = set(payload.__struct_fields__)
    foreign = str(view.data.get("currency") or "NOK") != "NOK"
    return [
        spec for spec in FORM_FIELDS if spec[0] in fields or (spec[0] == "nok_amount" and foreign)
    ]


def _key_of(name: str) -> str:
    """The proposal data's key of a form field ("due_date" → "dueDate")."""
    return next((key for field, key, _ in FORM_FIELDS if field == name), name)


def _current(view: ProposalView, key: str, how: str) -> object:
    """The proposal's value of a form field, typed as the form reads it (None when none)."""
    value = view.data.get(key)
    if value is None:
        return None
    try:
        if how in ("amount", "rate"):
            return Decimal(str(value))
        if how == "date":
            return dt.date.fromisoformat(str(value))
    except (ArithmeticError, ValueError):
        return None
    return " ".join(str(value).split())


def _corrections(form: Any, view: ProposalView, unread: frozenset[str]) -> Corrections | None:
    """The values the reviewer changed (None when nothing changed). A field left as the page
    showed it, or emptied, is no change — except a field the document did not show
    (`unread`), whose value is always the reviewer's. FormErrors names every field that
    cannot be read, so the page shows them all at once."""
    changes: dict[str, Any] = {}
    errors: list[tuple[str, str, str]] = []
    for name, key, how in offered_fields(view):
        text = _field(form, name)
        if not text:
            continue
        value: object
        try:
            if how == "amount":
                value = parse_number(text)
            elif how == "rate":
                value = parse_number(text, rate=True)
            elif how == "date":
                value = parse_day(text)
            else:
                value = " ".join(text.split())
        except ValueError:
            errors.append((name, text, "form.bad_date" if how == "date" else "form.bad_number"))
            continue
        if name == "nok_amount" or name in unread or value != _current(view, key, how):
            changes[name] = value
    if errors:
        raise FormErrors(errors)
    # ADR 0056: a purchase's reverse charge, a checkbox (absent when unticked).
    if _field(form, "reverse_charge_shown"):
        ticked = bool(_field(form, "reverse_charge"))
        if ticked != bool(view.data.get("reverseCharge")):
            changes["reverse_charge"] = ticked
    return Corrections(**changes) if changes else None


def form_fields(
    view: ProposalView,
    unread: frozenset[str],
    lang: i18n.Lang,
    posted: dict[str, str] | None = None,
    errors: frozenset[str] = frozenset(),
) -> list[dict[str, Any]]:
    """The approve form's inputs: each prefilled with the proposal's value as people read
    it ("1 234,50", "18.11.2026"), or with what the reviewer posted when the page comes
    back with a refusal (nothing typed is lost); a field the document did not show is
    empty and required."""
    out: list[dict[str, Any]] = []
    for name, key, how in offered_fields(view):
        current = view.data.get(key)
        if name in unread or current is None:
            shown = ""
        elif how == "amount":
            shown = i18n.money(str(current), lang)
        else:
            shown = i18n.field_value(key, current, lang)
        if posted is not None and name in posted:
            shown = posted[name]
        out.append(
            {
                "name": name,
                "label": i18n.text(f"field.{key}", lang),
                "value": shown,
                "how": how,
                "unread": name in unread,
                "invalid": name in errors,
            }
        )
    return out


async def _names(runtime: Runtime, user: Principal) -> Callable[[str], str | None]:
    """The chart's account names for the page, best effort: a page about a proposal never
    fails because the names cannot be had (no permission, the books down)."""
    try:
        return await runtime.get_ledger().account_names(user)
    except BookkeeperError:
        return lambda code: None


async def _changed_since_shown(
    runtime: Runtime, user: Principal, view: ProposalView, seen: int | None
) -> str | None:
    """Who else changed the proposal, still awaiting review, after the form was rendered
    at its event position `seen`: the first actor other than `user` among its events since
    (an endorsement, with or without corrections). None when nothing changed, when only
    `user` did (the same form sent twice answers as before), when the proposal is decided
    (the handler refuses that, or answers a repeat as the first), or for a form without
    the position (an older page)."""
    if seen is None or view.status is not Status.PROPOSED or view.last_position <= seen:
        return None
    since = await runtime.get_queries().events(
        user, EventFilter(stream_id=view.id, after_position=seen, limit=PAGE)
    )
    return next((e.actor for e in since if e.actor != user.actor), None)


def _endorsed_by(view: ProposalView, user: Principal) -> bool:
    """Whether `user` gave one of the proposal's first approvals (the projection keeps
    the endorsers comma-separated, ports.ProposalView)."""
    return user.actor in (view.endorsed_by or "").split(",")


async def _approved_as_posted(
    runtime: Runtime,
    user: Principal,
    proposal_id: uuid.UUID,
    corrections: Corrections | None,
    comment: str | None,
) -> bool:
    """Whether the proposal is approved by `user` as this form asks (its values, its
    comment): the same form sent twice (a double click, a reload), whose second answer
    should be the first's, not "no longer awaiting review" — nor, when two approvals are
    required and the first was `user`'s, "a second person must approve". Anything else
    (another person's decision, other values) is still refused."""
    queries = runtime.get_queries()
    view = await queries.proposal(user, proposal_id)
    if view.status is Status.REJECTED:
        return False
    if view.status is Status.PROPOSED:
        if not _endorsed_by(view, user):
            return False
        kind: type[ApprovedData | EndorsedData] = EndorsedData
    elif view.decided_by != user.actor:
        return False
    else:
        kind = ApprovedData
    events = await queries.events(user, EventFilter(stream_id=view.id, limit=PAGE))
    approvals = [e.data for e in events if isinstance(e.data, kind) and e.actor == user.actor]
    # The form is read against the proposal as it is now, corrected: a form that shows
    # what was approved asks no change (None), or the same changes (a field left unread).
    return (
        bool(approvals)
        and (corrections is None or approvals[-1].corrections == corrections)
        and approvals[-1].comment == comment
    )


def _review_routes() -> list[Any]:
    @get("/", include_in_schema=False)
    async def home() -> Redirect:
        return Redirect(APP_PATH + "/review")

    @get("/review", include_in_schema=False, opt={QUERY: ("status", "after")})
    async def queue(
        request: Request[Any, Any, Any],
        user: NamedDependency[Principal],
        runtime: NamedDependency[Runtime],
    ) -> Response[str]:
        status = _q(request, "status")
        after = _int(_q(request, "after")) or 0
        chosen = status if status in {s.value for s in Status} or status == "all" else "PROPOSED"
        statuses = () if chosen == "all" else (Status(chosen),)
        views = await runtime.get_queries().proposals(
            user,
            ProposalFilter(statuses=statuses, after_position=max(after, 0), limit=PAGE),
            resumable=True,
        )
        next_after = views[-1].last_position if len(views) == PAGE else None
        return render(
            request, "queue.html", user=user, views=views, current=chosen,
            names=await _names(runtime, user),
            statuses=[s.value for s in Status], next_after=next_after,
        )  # fmt: skip

    async def proposal_page(
        request: Request[Any, Any, Any],
        user: NamedDependency[Principal],
        runtime: NamedDependency[Runtime],
        proposal_id: uuid.UUID,
        *,
        status: int = 200,
        error: str | None = None,
        notice: str | None = None,
        posted: dict[str, str] | None = None,
        invalid: frozenset[str] = frozenset(),
    ) -> Response[str]:
        queries = runtime.get_queries()
        view = await queries.proposal(user, proposal_id)
        history = await queries.correlation(user, view.correlation_id)
        if not any(e.stream_id == view.id for e in history):  # an older log: the stream
            history = await queries.events(user, EventFilter(stream_id=view.id, limit=PAGE))
        confidence, review = _history_meta(view, history)
        document = view.data.get("documentHash")
        stored = None
        if isinstance(document, str):
            try:
                stored = await runtime.get_documents().get(user, document)
            except BookkeeperError:
                stored = None
        return render(
            request, "proposal.html", status=status, user=user, view=view, history=history,
            confidence=confidence, review=review, document=stored, error=error,
            warnings=_reading_warnings(view, history) + _deduction_notes(view),
            fields=form_fields(view, _unread(view, history), i18n.choose(request), posted,
                               invalid),
            comment=(posted or {}).get("comment", ""),
            reason=(posted or {}).get("reason", ""),
            event_name=lambda name: i18n.event_name(name, i18n.choose(request)),
            note=_note,
            notice=notice, inline=stored is not None and stored.content_type in INLINE_TYPES,
            names=await _names(runtime, user), credited=_credited(view, history),
            address=None if request.method == "GET" else f"{APP_PATH}/review/{proposal_id}",
        )  # fmt: skip

    @get("/review/{proposal_id:uuid}", include_in_schema=False, opt={QUERY: ("done",)})
    async def proposal(
        request: Request[Any, Any, Any],
        user: NamedDependency[Principal],
        runtime: NamedDependency[Runtime],
        proposal_id: FromPath[uuid.UUID],
    ) -> Response[str]:
        done = request.query_params.get("done")
        notice = None
        if done in ("approved", "rejected", "retried"):
            # Only what the record holds: the URL may come from a link or a bookmark.
            view = await runtime.get_queries().proposal(user, proposal_id)
            lang = i18n.choose(request)
            if done == "approved" and view.status not in (Status.PROPOSED, Status.REJECTED):
                notice = i18n.text(
                    "approved_msg", lang, status=i18n.text(f"status.{view.status.value}", lang)
                )
            elif (
                done == "approved" and view.status is Status.PROPOSED and _endorsed_by(view, user)
            ):  # the first of two approvals (ADR 0014): said, or the page looks unchanged
                notice = i18n.text("endorsed_msg", lang)
            elif done == "rejected" and view.status is Status.REJECTED:
                notice = i18n.text("rejected_msg", lang)
            elif done == "retried" and view.status in (Status.APPROVED, Status.EXECUTED):
                notice = i18n.text(
                    "retried_msg", lang, status=i18n.text(f"status.{view.status.value}", lang)
                )
        return await proposal_page(request, user, runtime, proposal_id, notice=notice)

    async def refused(
        request: Request[Any, Any, Any],
        user: NamedDependency[Principal],
        runtime: NamedDependency[Runtime],
        proposal_id: uuid.UUID,
        error: Exception,
        posted: dict[str, str] | None = None,
    ) -> Response[str]:
        lang = i18n.choose(request)
        return await proposal_page(
            request, user, runtime, proposal_id, status=web_status(error),
            error=i18n.text("refused", lang, reason=explain_error(error, lang)),
            posted=posted,
        )  # fmt: skip

    @post("/review/{proposal_id:uuid}/approve", include_in_schema=False, status_code=303)
    async def approve(
        request: Request[Any, Any, Any],
        user: NamedDependency[Principal],
        runtime: NamedDependency[Runtime],
        proposal_id: FromPath[uuid.UUID],
    ) -> Response[Any]:
        form = await request.form()
        queries = runtime.get_queries()
        view = await queries.proposal(user, proposal_id)
        changed_by = await _changed_since_shown(runtime, user, view, _int(_field(form, "seen")))

        async def stale(changed_by: str) -> Response[str]:
            """A stale form whose values are not what the proposal says now (another
            person's first approval with its corrections): they would correct it back
            unseen, or be refused with no way out. The page comes back with the proposal
            as it is now (the comment kept) and says who changed it."""
            lang = i18n.choose(request)
            return await proposal_page(
                request, user, runtime, proposal_id, status=409,
                error=i18n.text("stale_form", lang, who=_people(request).name(
                    changed_by, lang, tenant=user.tenant_id)),
                posted={"comment": _words(form, "comment")},
            )  # fmt: skip

        try:  # which fields were unread (the handler enforces them in any case)
            history = await queries.events(user, EventFilter(stream_id=view.id, limit=1))
        except BookkeeperError:
            history = []
        # What the reviewer typed, shown again when the approval is refused.
        posted = {name: _field(form, name) for name, _, _ in offered_fields(view)}
        posted["comment"] = _words(form, "comment")
        try:
            corrections = _corrections(form, view, _unread(view, history))
        except FormErrors as bad:
            if changed_by is not None:
                return await stale(changed_by)
            lang = i18n.choose(request)
            reasons = "; ".join(
                i18n.text(problem, lang, field=i18n.text(f"field.{_key_of(name)}", lang), text=text)
                for name, text, problem in bad.errors
            )
            return await proposal_page(
                request, user, runtime, proposal_id, status=422,
                error=i18n.text("refused", lang, reason=reasons), posted=posted,
                invalid=frozenset(name for name, _, _ in bad.errors),
            )  # fmt: skip
        if changed_by is not None and corrections is not None:
            return await stale(changed_by)
        try:
            await runtime.get_handlers().dispatch(
                ApproveProposal(
                    principal=user,
                    proposal_id=proposal_id,
                    corrections=corrections,
                    comment=posted["comment"] or None,
                )
            )
        except (ProposalNotPending, SecondApproverRequired) as error:
            if not await _approved_as_posted(
                runtime, user, proposal_id, corrections, posted["comment"] or None
            ):
                return await refused(request, user, runtime, proposal_id, error, posted)
        except BookkeeperError as error:
            return await refused(request, user, runtime, proposal_id, error, posted)
        return Redirect(f"{APP_PATH}/review/{proposal_id}?done=approved", status_code=303)

    @post("/review/{proposal_id:uuid}/reject", include_in_schema=False, status_code=303)
    async def reject(
        request: Request[Any, Any, Any],
        user: NamedDependency[Principal],
        runtime: NamedDependency[Runtime],
        proposal_id: FromPath[uuid.UUID],
    ) -> Response[Any]:
        form = await request.form()
        reason = _words(form, "reason")
        view = await runtime.get_queries().proposal(user, proposal_id)
        changed_by = await _changed_since_shown(runtime, user, view, _int(_field(form, "seen")))
        if changed_by is not None:
            # A stale form, as the approval's (ADR 0027 addendum, vatspend): someone else
            # approved or corrected the proposal after the page was drawn, so the
            # rejection would decide on what the reviewer never saw. The page comes back
            # as it is now, the reason kept, and says who changed it.
            lang = i18n.choose(request)
            return await proposal_page(
                request, user, runtime, proposal_id, status=409,
                error=i18n.text("stale_form", lang, who=_people(request).name(
                    changed_by, lang, tenant=user.tenant_id)),
                posted={"reason": reason},
            )  # fmt: skip
        try:
            await runtime.get_handlers().dispatch(
                RejectProposal(principal=user, proposal_id=proposal_id, reason=reason)
            )
        except ProposalNotPending as error:
            # The same rejection sent twice (a double click) answers as the first did.
            view = await runtime.get_queries().proposal(user, proposal_id)
            if not (
                view.status is Status.REJECTED
                and view.decided_by == user.actor
                and view.rejection_reason == tidy(reason)
            ):
                return await refused(request, user, runtime, proposal_id, error)
        except BookkeeperError as error:
            return await refused(request, user, runtime, proposal_id, error)
        return Redirect(f"{APP_PATH}/review/{proposal_id}?done=rejected", status_code=303)

    @post("/review/{proposal_id:uuid}/retry", include_in_schema=False, status_code=303)
    async def retry(
        request: Request[Any, Any, Any],
        user: NamedDependency[Principal],
        runtime: NamedDependency[Runtime],
        proposal_id: FromPath[uuid.UUID],
    ) -> Response[Any]:
        """A FAILED proposal sent back to execution (ADR 0009 addendum); the same retry
        sent twice (a double click) answers as the first did."""
        form = await request.form()
        comment = _words(form, "comment")
        try:
            await runtime.get_handlers().dispatch(
                RetryExecution(principal=user, proposal_id=proposal_id, comment=comment or None)
            )
        except ProposalNotFailed as error:
            retried = await runtime.get_queries().events(
                user,
                EventFilter(
                    stream_id=proposal_id, types=tuple(RETRY_TYPES), actor=user.actor, limit=1
                ),
            )
            if not retried:
                posted = {"comment": comment}
                return await refused(request, user, runtime, proposal_id, error, posted)
        except BookkeeperError as error:
            posted = {"comment": comment}
            return await refused(request, user, runtime, proposal_id, error, posted)
        return Redirect(f"{APP_PATH}/review/{proposal_id}?done=retried", status_code=303)

    @get("/files/{sha256:str}", include_in_schema=False)
    async def file(
        user: NamedDependency[Principal], runtime: NamedDependency[Runtime], sha256: FromPath[str]
    ) -> Response[bytes]:
        """A stored document of the tenant, inline when it is a PDF, JPEG or PNG (checked at
        upload), so it shows beside its proposal; anything else as a download."""
        document, content = await runtime.get_documents().content(user, sha256)
        media = download_type(document.content_type)
        disposition = "inline" if media in INLINE_TYPES else "attachment"
        return Response(
            content,
            media_type=media,
            headers={"Content-Disposition": f'{disposition}; filename="document"'},
        )

    return [home, queue, proposal, approve, reject, retry, file]


# --- reports ----------------------------------------------------------------------------


def _date(value: str | None) -> dt.date | None:
    """A YYYY-MM-DD date from a form field; None when empty or not a date."""
    if not value:
        return None
    try:
        return dt.date.fromisoformat(value.strip()[:10])
    except ValueError:
        return None


#: A report's date parameters and the label of their field on the page.
_DAY_FIELDS: Final = {"start": "from", "end": "to", "at": "at", "from": "from", "to": "to"}


def _check_days(request: Request[Any, Any, Any]) -> None:
    """Refuse (422, in the page's words) a report's date that is given but cannot be read:
    read as no date, it silently widened the report to every year, where the API refuses
    it; and one outside the API's window (params.EARLIEST..LATEST, ADR 0021), whose day
    before or month around left Python's dates (a 500 on the spending page and the
    balance sheet for 0001-01-01)."""
    for name, label in _DAY_FIELDS.items():
        value = _q(request, name)
        if value is None:
            continue
        day = _date(value) if len(value) <= 10 else None
        if day is None or not EARLIEST <= day <= LATEST:
            lang = i18n.choose(request)
            said = "form.bad_date" if day is None else "form.date_window"
            raise PageRefusal(
                status_code=422,
                detail=i18n.text(said, lang, field=i18n.text(label, lang), text=value[:40]),
            )


def _statement_chart(groups: list[Any], lang: i18n.Lang, title: str) -> Any:
    return charts.bar_chart(
        title, [(i18n.text(f"group.{g.key}", lang), g.total) for g in groups], lang
    )


async def _whole_ledger(
    ledger: LedgerService, user: Principal, account: str, start: dt.date | None, end: dt.date | None
) -> GeneralLedgerPage:
    """Every line of `account` in the period as one page (the general ledger's pages, read
    to the end): what "Last ned CSV" downloads — a browser shows no `Next-Cursor` header,
    so a page of it would be a file cut short without a word."""
    first = await ledger.general_ledger(user, account, start, end, None, MAX_PAGE)
    lines, last = list(first.lines), first
    while last.next_cursor is not None:
        last = await ledger.general_ledger(user, account, start, end, last.next_cursor, MAX_PAGE)
        lines.extend(last.lines)
    return msgspec.structs.replace(
        first, lines=lines, next_cursor=None, closing_balance=last.closing_balance
    )


def _csv_link(request: Request[Any, Any, Any]) -> str:
    params = {k: v for k, v in request.query_params.items() if k not in {"format", "lang"}}
    return request.url.path + "?" + urlencode({**params, "format": "csv"})


def _report_routes() -> list[Any]:
    @get("/reports", include_in_schema=False)
    async def index(
        request: Request[Any, Any, Any], user: NamedDependency[Principal]
    ) -> Response[str]:
        return render(request, "reports.html", user=user)

    @get("/reports/trial-balance", include_in_schema=False, opt={QUERY: _PERIOD})
    async def trial_balance(
        request: Request[Any, Any, Any],
        user: NamedDependency[Principal],
        runtime: NamedDependency[Runtime],
    ) -> Response[Any]:
        _check_days(request)
        start, end, format = _q(request, "start"), _q(request, "end"), _q(request, "format")
        ledger: LedgerService = runtime.get_ledger()
        report = await ledger.trial_balance(user, _date(start), _date(end))
        names = await ledger.account_names(user)
        if format == "csv":
            return trial_balance_csv(report, names)
        lang = i18n.choose(request)
        chart = charts.bar_chart(
            i18n.text("movement", lang),
            [(f"{a.account} {names(a.account) or ''}".strip(), a.balance) for a in report.accounts],
            lang,
        )
        period = {"start": _date(start), "end": _date(end)}
        shown = {name: day.isoformat() for name, day in period.items() if day is not None}

        def ledger_link(account: str) -> str:
            """An account's general ledger for the period shown (its row's figures)."""
            return f"{APP_PATH}/reports/general-ledger?" + urlencode({"account": account, **shown})

        return render(
            request, "trial_balance.html", user=user, report=report, names=names, chart=chart,
            start=period["start"], end=period["end"], csv=_csv_link(request),
            ledger_link=ledger_link,
        )  # fmt: skip

    @get(
        "/reports/general-ledger",
        include_in_schema=False,
        opt={QUERY: ("account", "cursor", *_PERIOD)},
    )
    async def general_ledger(
        request: Request[Any, Any, Any],
        user: NamedDependency[Principal],
        runtime: NamedDependency[Runtime],
    ) -> Response[Any]:
        _check_days(request)
        account, cursor = _q(request, "account"), _q(request, "cursor")
        start, end, format = _q(request, "start"), _q(request, "end"), _q(request, "format")
        ledger = runtime.get_ledger()
        names = await ledger.account_names(user)
        page = None
        if account and format == "csv":  # a download: every line of the period, not a page
            return general_ledger_csv(
                await _whole_ledger(ledger, user, account.strip()[:100], _date(start), _date(end))
            )
        if account:
            page = await ledger.general_ledger(
                user, account.strip()[:100], _date(start), _date(end), cursor, PAGE
            )
        accounts = (await ledger.trial_balance(user, None, None)).accounts
        next_link = None
        if page is not None and page.next_cursor:
            params = {k: v for k, v in request.query_params.items() if k != "cursor"}
            next_link = request.url.path + "?" + urlencode({**params, "cursor": page.next_cursor})
        return render(
            request, "general_ledger.html", user=user, page=page, names=names,
            accounts=[a.account for a in accounts], account=account or "",
            start=_date(start), end=_date(end), csv=_csv_link(request), next_link=next_link,
        )  # fmt: skip

    @get("/reports/vat", include_in_schema=False, opt={QUERY: ("year", "term", "format")})
    async def vat(
        request: Request[Any, Any, Any],
        user: NamedDependency[Principal],
        runtime: NamedDependency[Runtime],
    ) -> Response[Any]:
        year, term = _int(_q(request, "year")), _int(_q(request, "term"))
        format = _q(request, "format")
        # A year or term missing or out of range: the term to report today, as the
        # company's calendar (Europe/Oslo, the application's clock) and its term length
        # have it (ADR 0064, addendum 2) — not the server's wall clock.
        if year is None or not 1900 <= year <= 2999 or term is None or not 1 <= term <= 6:
            year = term = None
        report = await runtime.get_ledger().vat_report(user, year, term)
        year = report.term.year
        term = term or (report.term.start.month + 1) // 2
        if format == "csv":
            return vat_csv(report)
        lang = i18n.choose(request)
        chart = charts.bar_chart(
            i18n.text("vat", lang),
            [
                (i18n.text("output_vat", lang), report.output_vat),
                (i18n.text("input_vat", lang), report.input_vat),
                (i18n.text("payable", lang), report.payable),
            ],
            lang,
        )
        return render(
            request, "vat.html", user=user, report=report, year=year, term=term, chart=chart,
            csv=_csv_link(request),
        )  # fmt: skip

    @get("/reports/income-statement", include_in_schema=False, opt={QUERY: _PERIOD})
    async def income_statement(
        request: Request[Any, Any, Any],
        user: NamedDependency[Principal],
        runtime: NamedDependency[Runtime],
    ) -> Response[Any]:
        _check_days(request)
        start, end, format = _q(request, "start"), _q(request, "end"), _q(request, "format")
        report = await runtime.get_ledger().income_statement(user, _date(start), _date(end))
        if format == "csv":
            return income_statement_csv(report)
        lang = i18n.choose(request)
        totals = [
            ("operating_revenue", report.operating_revenue),
            ("operating_costs", report.operating_costs),
            ("operating_result", report.operating_result),
            ("financial_items", report.financial_items),
            ("result_before_tax", report.result_before_tax),
            ("tax", report.tax),
            ("result", report.result),
            ("dispositions", report.dispositions),
        ]
        return render(
            request, "statement.html", user=user, title="income_statement", report=report,
            totals=totals, unclassified=[], period=True, start=_date(start), end=_date(end),
            chart=_statement_chart(report.groups, lang, i18n.text("income_statement", lang)),
            csv=_csv_link(request),
        )  # fmt: skip

    @get("/reports/balance-sheet", include_in_schema=False, opt={QUERY: ("at", "format")})
    async def balance_sheet(
        request: Request[Any, Any, Any],
        user: NamedDependency[Principal],
        runtime: NamedDependency[Runtime],
    ) -> Response[Any]:
        _check_days(request)
        at, format = _q(request, "at"), _q(request, "format")
        report = await runtime.get_ledger().balance_sheet(user, _date(at))
        if format == "csv":
            return balance_sheet_csv(report)
        lang = i18n.choose(request)
        totals = [
            ("total_assets", report.total_assets),
            ("unallocated_result", report.unallocated_result),
            ("total_equity_and_liabilities", report.total_equity_and_liabilities),
        ]
        return render(
            request, "statement.html", user=user, title="balance_sheet", report=report,
            totals=totals, unclassified=report.unclassified, period=False, at=_date(at),
            chart=_statement_chart(report.groups, lang, i18n.text("balance_sheet", lang)),
            csv=_csv_link(request),
        )  # fmt: skip

    @get(
        "/reports/spending",
        include_in_schema=False,
        opt={QUERY: ("from", "to", "groupBy", "format")},
    )
    async def spending(
        request: Request[Any, Any, Any],
        user: NamedDependency[Principal],
        runtime: NamedDependency[Runtime],
    ) -> Response[Any]:
        """GET /reports/costs as a page (issue 11/15): the same query parameters, defaults,
        permission (`reports:read`, checked by the report first) and CSV; budget use of the
        month of `to`; the 30 days up to `to` per source as a chart."""
        _check_days(request)
        service = runtime.get_spending()
        group_by = _q(request, "groupBy") or "source"
        group_by = group_by if group_by in SPENDING_GROUPS else "source"
        start, end = _default_range(service, _date(_q(request, "from")), _date(_q(request, "to")))
        report = await service.report(user, start, end, group_by)
        out = report_out(report)
        if _q(request, "format") == "csv":
            return cost_report_csv(out)
        lang = i18n.choose(request)
        month = [line for line in await service.morning(user.tenant_id, end) if line.budget_nok]
        first = end - dt.timedelta(days=SPENDING_DAYS - 1)
        daily = await service.daily_nok(user.tenant_id, end, SPENDING_DAYS)
        chart = charts.bar_chart(
            i18n.text("spending.by_group", lang),
            [(f"{r.key} ({r.currency})", r.amount_nok) for r in report.rows],
            lang,
        )
        title = i18n.text("spending.daily", lang, start=first, end=end)
        return render(
            request, "spending.html", user=user, report=out, start=start, end=end,
            group_by=group_by, groups=SPENDING_GROUPS, budgets=month, month=i18n.month(end, lang),
            chart=chart, daily=charts.daily_chart(title, first, daily, lang), daily_title=title,
            csv=_csv_link(request), percent=lambda value: i18n.percent(value, lang),
        )  # fmt: skip

    return [index, trial_balance, general_ledger, vat, income_statement, balance_sheet, spending]


# --- static files and errors ------------------------------------------------------------


@get("/static/{name:str}", include_in_schema=False)
async def static(name: FromPath[str]) -> Response[bytes]:
    """The page's stylesheet and script, from the package (nothing from a CDN)."""
    media = STATIC.get(name)
    if media is None:
        raise NotFoundException("no such file")
    content = resources.files("bookkeeper.entrypoints.web").joinpath("static", name).read_bytes()
    return Response(
        content,
        media_type=media,  # Litestar adds "; charset=utf-8" to every text/* type itself
        headers={"Cache-Control": "public, max-age=3600"},
    )


def web_status(error: Exception) -> int:
    """The HTTP status a refusal is shown with: the API's, and for the errors the API turns
    into something else on its routes, 502/503 for the books or bank failing, else 422."""
    status = _status_of(error)
    if status != 500:
        return status
    if isinstance(error, ExternalError):
        return 503 if error.retryable else 502
    if isinstance(error, ChartUnavailable):
        return 503
    return 422


class PageRefusal(HTTPException):
    """A refusal of a page whose detail is already in the page's words (Litestar's own
    refusals are said by their status: `web.http.<status>`)."""


def single_values(request: Request[Any, Any, Any]) -> None:
    """A 400 page naming the parameter when one a page reads (its route's `opt[QUERY]`,
    and `lang`) is given more than once (`?from=2026-01-01&from=2026-02-01`): which one
    would count? The page read the first without a word; the API refuses it the same
    way (ADR 0007 addendum). A parameter the page does not read is ignored, as there."""
    handler = request.scope.get("route_handler")
    opt = getattr(handler, "opt", None) or {}
    names = {*EVERY_PAGE_QUERY, *opt.get(QUERY, ())}
    seen: set[str] = set()
    for name, _ in request.query_params.multi_items():
        if name not in names:
            continue
        if name in seen:
            raise PageRefusal(
                status_code=400,
                detail=i18n.text("form.repeated", i18n.choose(request), name=name),
            )
        seen.add(name)


#: The pages a person can open (GET) and be sent back to: the list, a proposal, the
#: reports and each report.
_PAGES: Final = re.compile(
    r"/app/review(/[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})?"
    r"|/app/reports(/(trial-balance|general-ledger|vat|income-statement|balance-sheet|spending))?"
)
_START: Final = APP_PATH + "/review"
_REPORTS: Final = APP_PATH + "/reports"


def back_link(request: Request[Any, Any, Any], status: int) -> tuple[str, str]:
    """Where the error page's link leads, and the key of its words. Never the address that
    failed (the link went to the list, so a failing list linked to itself): the page the
    person came from (Referer, one of our pages, same host) when it is another address;
    for a 400/422 of a page, the same page without what was asked of it; else the nearest
    page above the address (a proposal above its form's action; after a 404, none naming
    the id that was not found); else the list of proposals, or the reports when the list
    is what failed (the reports' index needs nothing but the session)."""
    here = _here(request) if request.method == "GET" else None
    path = request.url.path.rstrip("/") or "/"
    came = urlsplit(request.headers.get("referer", ""))
    if came.netloc == request.url.netloc and _PAGES.fullmatch(came.path):
        previous = came.path + (f"?{came.query}" if came.query else "")
        if previous != here:
            return previous, "back.previous"
    candidates: list[tuple[str, str]] = []
    if here is not None and request.url.query and status in (400, 422):
        candidates.append((path, "back.page"))
    parts = path.split("/")
    for end in range(len(parts) - 1, 2, -1):  # "/app/review/<id>/approve" → …/<id>, /review
        candidates.append(("/".join(parts[:end]), ""))
    candidates += [(_START, ""), (_REPORTS, "")]
    for target, words in candidates:
        found = _PAGES.fullmatch(target)
        if found is None or target == here or (status == 404 and found.group(1)):
            continue
        if not words:
            words = (
                "back.proposal" if found.group(1)
                else "back.review" if target == _START
                else "back.reports" if target == _REPORTS
                else "back.page"
            )  # fmt: skip
        return target, words
    return _REPORTS, "back.reports"  # pragma: no cover - the list and the reports differ


#: An exception handler of the app (litestar.types.ExceptionHandler, a string at run time).
RefusalHandler = Callable[[Request[Any, Any, Any], Exception], Response[Any]]


def on_web_paths(api: RefusalHandler) -> RefusalHandler:
    """The app's handler of Litestar's own refusals, except for an address under /app that
    no page took: there an HTML page, as for every other refusal on /app (a 404 for an
    address that names no page — an unknown report, a proposal id that is no id —, a 405
    with `Allow` for a form's action opened as a page); the API keeps its problem+json.
    A 5xx stays the app's (logged, nothing internal said)."""

    def handle(request: Request[Any, Any, Any], error: Exception) -> Response[Any]:
        path = request.url.path
        under_app = path == APP_PATH or path.startswith(APP_PATH + "/")
        if under_app and isinstance(error, HTTPException) and error.status_code < 500:
            return _error_page(request, error)
        return api(request, error)

    return handle


def _login_redirect(request: Request[Any, Any, Any], error: LoginRequired) -> Response[Any]:
    # After logging in, come back to the page; after a form's POST (which a GET cannot
    # repeat) to the page the form is on, as the error page's link finds it.
    back = _here(request) if request.method == "GET" else back_link(request, 401)[0]
    target = f"{APP_PATH}/login?next={quote(back, safe='')}"
    if error.reason:
        target += "&expired=1"
    return Redirect(target, status_code=303)


def _error_page(request: Request[Any, Any, Any], error: Exception) -> Response[Any]:
    lang = i18n.choose(request)
    if isinstance(error, HTTPException):
        status, said = error.status_code, f"http.{error.status_code}"
        if status == 405 and request.method not in ("GET", "HEAD"):
            said = "http.405.page"  # a page sent a form (or PUT …), not a form's action opened
        # Litestar's own words are English and technical; ours are already the page's.
        known = not isinstance(error, PageRefusal) and said in i18n.TEXTS
        detail = i18n.text(said, lang, method=request.method) if known else error.detail
    elif isinstance(error, BookkeeperError):
        # In the page's words, as a refusal on the proposal page is (never English on nb).
        status, detail = web_status(error), explain_error(error, lang)
    else:  # pragma: no cover - the app's own handler logs and answers anything else
        raise error
    # Who is signed in (when the session was verified before the refusal): the page says
    # so and offers the logout, as every page does, e.g. to sign in to another tenant.
    user = request.state.get(_USER_STATE)
    back, back_words = back_link(request, status)
    response = render(
        request,
        "error.html",
        status=status,
        user=user if isinstance(user, Principal) else None,
        detail=detail,
        back=back,
        back_words=back_words,
    )
    if isinstance(error, HTTPException) and error.headers:
        response.headers.update(error.headers)  # Retry-After of a 429
    return response


def _people(request: Request[Any, Any, Any]) -> People:
    """The process's People (web_router's `people`, put in the request's state before its
    handler runs), or one that only strips "human:" (an error page no route matched)."""
    people = request.state.get(_PEOPLE_STATE)
    return people if isinstance(people, People) else _NOBODY


_PEOPLE_STATE: Final = "bookkeeper.people"
#: The request's verified session principal (for the error page, which has no dependency).
_USER_STATE: Final = "bookkeeper.web_user"
_NOBODY: Final = People()


def web_router(
    settings: Settings,
    sessions: Sessions,
    csrf_secret: str,
    limiter: RateLimitMiddleware | None = None,
    people: People | None = None,
) -> FreshRouter:
    """Every /app route, behind the session (except login and the static files) and CSRF;
    with `limiter`, the API's rate limits: each page spends from the session principal's
    budget, each login attempt from its address's (ADR 0040 §5). `people`: what people are
    called on the pages; the signed-in user's name claim is learnt into it."""

    async def provide_user(request: Request[Any, Any, Any]) -> Principal:
        user = await sessions.principal(request)
        request.state[_USER_STATE] = user
        if people is not None:
            if user.name:
                people.learn(user.tenant_id, user.subject, user.name)
            await people.sync()  # kept for the others; theirs read (at most once a minute)
        if limiter is not None:
            await limiter.spend_for(user, request.method)
        return user

    async def before(request: Request[Any, Any, Any]) -> None:
        single_values(request)
        # The registry itself (a router's opt would be copied, and a copy learns alone).
        if people is not None:
            request.state[_PEOPLE_STATE] = people

    return FreshRouter(
        path=APP_PATH,
        before_request=before,
        route_handlers=[
            *_login_routes(sessions, _oidc(settings), limiter),
            *_review_routes(),
            *_report_routes(),
            static,
        ],
        dependencies={"user": Provide(provide_user)},
        middleware=[
            DefineMiddleware(
                CSRFMiddleware,
                config=CSRFConfig(
                    secret=csrf_secret,
                    cookie_name=CSRF_COOKIE,
                    cookie_path=APP_PATH,
                    cookie_httponly=True,
                    cookie_samesite="strict",
                    header_name="x-csrf-token",
                ),
            )
        ],
        exception_handlers={
            LoginRequired: _login_redirect,
            # The same keys as the app's handlers (problems.py), so these win on /app.
            HTTPException: _error_page,
            DomainError: _error_page,
            ApplicationError: _error_page,
        },
        include_in_schema=False,
    )
