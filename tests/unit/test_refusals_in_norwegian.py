"""Our own refusals reach people in Norwegian (ADR 0017, addendum "refusals in Norwegian").

What our code says when an action cannot be decided or carried out is recorded in English
(events, logs, the API); what Discord, the chat and the web page show a Norwegian reader is
said from the one catalogue (application/messages.py) by application/failures.py — never the
English record, whatever the refusal.
"""

from __future__ import annotations

import ast
import datetime as dt
import re
import uuid
from pathlib import Path
from typing import Any

import pytest

from bookkeeper.adapters.discord.handler import outcome_text
from bookkeeper.application import messages as m
from bookkeeper.application.errors import ExternalRejected
from bookkeeper.application.execution.policy import ExecutionRefused, safe_error
from bookkeeper.application.failures import explain_error, explain_failure
from bookkeeper.domain.approval import ApprovalLimitExceeded
from bookkeeper.domain.errors import InvalidCorrection
from bookkeeper.domain.events import Status
from bookkeeper.domain.rules import FiscalPeriod, PeriodClosed, VatTermLocked
from tests.unit.external_doubles import PDF, Harness, invoice, receipt
from tests.unit.test_web_failure_text import page, view

EXECUTION = Path(__file__).parents[2] / "src" / "bookkeeper" / "application" / "execution"
#: Words of the English record that no Norwegian sentence of ours has.
ENGLISH = re.compile(
    r"\b(the|is|not|no|cannot|names|stored|upload|tenant|attempt|period|closed|locked|"
    r"nothing|dated|proposal|it|of|by)\b"
)


def norwegian(text: str) -> bool:
    return ENGLISH.search(text) is None


# --- the executor's refusals, as the executor records them ---------------------------------


@pytest.mark.parametrize(
    ("data_of", "expected"),
    [
        (lambda sha: receipt(sha, folio_event_id=None), "viser ikke til noen banktransaksjon"),
        (lambda sha: receipt(None), "viser ikke til noe lagret dokument"),
        (lambda sha: receipt("0" * 64), "er ikke lagret for dette firmaet"),
        (lambda sha: invoice("f" * 64), "er ikke lagret for dette firmaet"),
    ],
)
async def test_a_refused_execution_is_said_in_norwegian_in_discord_chat_and_on_the_page(
    data_of: Any, expected: str
) -> None:
    h = Harness()
    sha = await h.store(PDF)
    pid = await h.approved(data_of(sha))
    assert (await h.executor.run_once()).failed == 1
    recorded = (await h.view(pid)).last_error
    assert recorded and norwegian(recorded) is False  # the record stays English

    said = explain_failure(recorded, m.NORWEGIAN, kind="receipt_attachment")
    assert expected in said and norwegian(said), said
    assert explain_failure(recorded, m.ENGLISH) == recorded

    shown = view(Status.FAILED, recorded)
    discord = outcome_text(shown)
    assert f"\nFeilet: {explain_failure(recorded, m.NORWEGIAN, kind=shown.kind)}." in discord
    assert recorded not in discord
    assert expected in page(shown)


def test_every_refusal_the_executor_raises_is_a_key_of_the_catalogue() -> None:
    """An ExecutionRefused (HandedBack, Deferred) is built from a "refusal.*" text of the
    catalogue, so a new refusal cannot reach people in English only."""
    refusals = {"ExecutionRefused", "HandedBack", "Deferred"}
    found = 0
    for path in sorted(EXECUTION.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Call) or getattr(node.func, "id", None) not in refusals:
                continue
            found += 1
            where = f"{path.name}:{node.lineno}"
            [argument] = node.args
            if isinstance(argument, ast.Name):  # built into a name first: find its text
                argument = next(
                    n.value
                    for n in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
                    if isinstance(n, ast.Assign)
                    and any(getattr(t, "id", None) == argument.id for t in n.targets)
                )
            assert isinstance(argument, ast.Call), where
            assert getattr(argument.func, "attr", None) == "text", where
            key = argument.args[0]
            assert isinstance(key, ast.Constant) and key.value in m.TEXTS, where
            assert str(key.value).startswith("refusal."), where
    assert found >= 10


def test_a_refusal_no_key_knows_is_still_said_in_norwegian() -> None:
    unknown = safe_error(ExecutionRefused("the bank feed is paused for maintenance"))
    said = explain_failure(unknown, m.NORWEGIAN, kind="receipt_attachment")
    assert said.startswith("kvitteringen ble stoppet av en kontroll hos oss") and norwegian(said)
    assert explain_failure(unknown, m.ENGLISH) == unknown


def test_the_refusals_placeholders_are_said_too() -> None:
    handed = safe_error(ExecutionRefused(m.text("refusal.deferred", m.ENGLISH, system="fiken",
        error="fiken 503: fiken POST /x answered 503")))  # fmt: skip
    said = explain_failure(handed, m.NORWEGIAN)
    assert said == (
        "ikke startet: et tidligere forsøk for firmaet fant Fiken utilgjengelig "
        "(Fiken svarte ikke; jeg prøver igjen)"
    )


# --- the domain's refusals (closed periods, locked terms, decisions) -----------------------


def _period(kind: str, name: str) -> FiscalPeriod:
    return FiscalPeriod(
        tenant_id="acme", kind=kind, name=name, start=dt.date(2026, 1, 1),
        end=dt.date(2026, 2, 28), closed_by="human:kari",
        closed_at=dt.datetime(2026, 4, 10, tzinfo=dt.UTC),
    )  # fmt: skip


def test_a_closed_period_and_a_locked_vat_term_are_said_in_norwegian_with_norwegian_dates() -> None:
    closed = PeriodClosed(_period("period", "2026-01"), dt.date(2026, 2, 3))
    said = explain_error(closed, m.NORWEGIAN)
    assert said.startswith("perioden 2026-01 (01.01.2026 – 28.02.2026) er lukket")
    assert "datert 03.02.2026" in said and norwegian(said)

    locked = VatTermLocked(_period("vat-term", "2026-1"), dt.date(2026, 2, 3))
    said = explain_error(locked, m.NORWEGIAN)
    assert said.startswith("mva-terminen 2026-1 (01.01.2026 – 28.02.2026) er låst")
    assert norwegian(said)
    assert explain_error(locked, m.ENGLISH) == locked.message  # the record's words


def test_a_decision_refused_in_words_no_form_knows_is_said_by_its_code() -> None:
    limit = ApprovalLimitExceeded("the amount 9 000,00 kr is above the approval limit of kari")
    assert explain_error(limit, m.NORWEGIAN) == (
        "beløpet er over godkjenningsgrensen din (eller du har ingen grense)"
    )
    odd = InvalidCorrection("lineItems cannot be corrected on a receipt_attachment")
    assert explain_error(odd, m.NORWEGIAN) == "rettelsen kan ikke brukes på dette forslaget"


def test_a_books_refusal_at_a_decision_is_classified_never_quoted() -> None:
    error = ExternalRejected('{"error": "secret-ish answer"}', system="fiken", status=400)
    said = explain_error(error, m.NORWEGIAN, kind="invoice_registration")
    assert said == "Fiken avviste kjøpet (feilkode 400)"


async def test_discord_says_why_a_decision_was_not_made_in_norwegian() -> None:
    from tests.unit.test_discord_adapter import KARI, PER, Bot, button, refused

    bot = Bot()
    proposal_id = await bot.document()
    await bot.handler.on_interaction(button(KARI, "approve", proposal_id))
    again = button(PER, "approve", proposal_id)  # decided already
    await bot.handler.on_interaction(again)

    said = refused(again)
    assert said == (
        f"Ikke utført: kan ikke godkjenne forslaget {proposal_id}: det er godkjent, "
        "ikke til godkjenning."
    )
    assert isinstance(proposal_id, uuid.UUID)


# --- a document the chat cannot take --------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "said"),
    [
        (b"", "filen kan ikke brukes som bilag (tom, ødelagt eller ikke lesbar)"),
        (
            b"GIF89a not a receipt",
            # EHF invoices (XML) are taken wherever a file comes in: the refusal says so
            # (it listed the picture and PDF types only, as if an EHF would be refused).
            "filtypen tas ikke imot; send en PDF, JPEG, PNG, HEIC eller WebP, "
            "eller en EHF-faktura (XML)",
        ),
    ],
)
async def test_a_document_the_chat_cannot_take_is_answered_in_norwegian(
    content: bytes, said: str
) -> None:
    from tests.unit.test_conversation import Chat

    chat = Chat()
    [reply] = await chat.say("", content)
    assert reply.text == f"Kunne ikke lese doc0.pdf: {said}"
    [english] = await chat.say("here is my receipt", content)
    assert english.text.startswith("Could not read doc0.pdf: the ")  # the record's own words


@pytest.mark.parametrize(
    ("error", "said"),
    [
        ("refused", "evil.example er ikke et sted jeg henter vedlegg fra"),
        ("large", "vedlegget er for stort"),
        ("slow", "cdn.discordapp.com svarte ikke innen 5 s"),
        ("odd", "vedlegget kunne ikke hentes"),
    ],
)
async def test_an_attachment_discord_could_not_give_us_is_answered_in_norwegian(
    error: str, said: str
) -> None:
    from bookkeeper.adapters.fetch import FetchError, FetchRefused, FetchTooLarge
    from tests.unit.test_discord_adapter import INVOICES, OLA, Bot, Fetcher

    raised = {
        "refused": FetchRefused("evil.example is not an allowed host"),
        "large": FetchTooLarge("the document is larger than 10485760 bytes"),
        "slow": FetchError("cdn.discordapp.com did not answer within 5 s"),
        "odd": FetchError("something new went wrong"),
    }[error]
    bot = Bot(Fetcher(raised))
    await bot.post(OLA, files=1)
    [answer] = bot.rest.messages(INVOICES)
    assert answer == f"Kunne ikke lese kvittering0.pdf: {said}"
