"""`bookkeeper chat`: stdin lines in, replies out, on a temporary SQLite data dir with the
offline extractor and the sandbox bank and books (the defaults)."""

from __future__ import annotations

import datetime as dt
import io
import os
import sqlite3
import threading
import uuid
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bookkeeper.adapters.extraction import ocr
from bookkeeper.application.documents import MAX_DOCUMENT_BYTES
from bookkeeper.domain.ledger import vat_term_due_next
from bookkeeper.entrypoints.cli.main import main
from tests.documents import ruter_ticket


def test_chat_proposes_from_a_file_answers_a_question_and_records_it(
    data_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    content, _, _ = ruter_ticket()
    receipt = tmp_path / "ruter.pdf"
    receipt.write_bytes(content)
    script = f"/file {receipt}\n\nhva er saldoen?\nWhat is the balance?\n"
    monkeypatch.setattr("sys.stdin", io.StringIO(script))

    status = main(["chat", "--tenant", "acme", "--user", "ola"])

    out, err = capsys.readouterr()
    assert status == 0, err
    assert "Ruter AS: 44,00 kr, konto 7140, mva 12 %." in out
    assert "Sikkerhet " in out and "Venter på godkjenning." in out
    assert "Saldo per " in out and "Balances as of " in out

    with sqlite3.connect(data_dir / "bookkeeper.db") as db:
        events = db.execute("SELECT type, actor FROM events ORDER BY position").fetchall()
        messages = db.execute(
            "SELECT direction, user_actor, proposal_id IS NOT NULL FROM conversation_messages "
            "WHERE channel_id = 'cli:ola' ORDER BY seq"
        ).fetchall()
    assert ("DocumentExtracted", "human:ola") in events
    # No sandbox bank event pays it: an expense of the user, awaiting review.
    assert [e for e in events if e[0].endswith("Proposed")] == [
        ("ExpenseRegistrationProposed", "human:ola")
    ]
    assert events.count(("BalanceQueried", "human:ola")) == 2
    assert messages == [
        ("in", "human:ola", 0),
        ("out", "book-e", 1),
        ("in", "human:ola", 0),
        ("out", "book-e", 0),
        ("in", "human:ola", 0),
        ("out", "book-e", 0),
    ]


def test_chat_reports_an_unreadable_path_and_goes_on(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("/file /no/such/file.pdf\nhei\n"))
    status = main(["chat", "--tenant", "acme", "--user", "ola"])
    out, err = capsys.readouterr()
    assert status == 0, err
    assert "Fant ikke filen /no/such/file.pdf." in out
    assert "Errno" not in out + err
    assert "Send en kvittering" in out


def test_chat_reads_no_more_of_a_file_than_a_document_may_hold(
    data_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """probe4: `/file` read the whole file before anything looked at its size: a pipe
    (a FIFO) hung the chat for good, /dev/zero read until memory ran out. A file that is
    not a regular one is refused by name; of a regular one at most the document limit
    (and one byte) is read, and a larger one is refused with the limit, unread."""
    pipe = tmp_path / "kvittering.pdf"
    os.mkfifo(pipe)
    # A writer that writes a few bytes and goes after a second: where the pipe is read,
    # it gives them and ends, so the test fails rather than hangs.
    reader = os.open(pipe, os.O_RDONLY | os.O_NONBLOCK)
    writer = os.open(pipe, os.O_WRONLY)
    os.write(writer, b"%PDF-1.4\n")
    closing = threading.Timer(1.0, os.close, (writer,))
    closing.start()
    big = tmp_path / "stor.pdf"
    with big.open("wb") as sparse:  # a hole: no disk or memory spent on it here
        sparse.truncate(MAX_DOCUMENT_BYTES + 1)
    script = f"/file {pipe}\n/file {big}\n/file /dev/null\nhva er saldoen?\n"
    monkeypatch.setattr("sys.stdin", io.StringIO(script))
    try:
        status = main(["chat", "--tenant", "acme", "--user", "ola"])
    finally:
        closing.join()
        os.close(reader)

    out, err = capsys.readouterr()
    assert status == 0, err
    assert f"{pipe} er ikke en vanlig fil" in out, out
    assert "/dev/null er ikke en vanlig fil" in out, out
    assert f"{big} er større enn 10 MB" in out, out
    assert "Saldo per " in out  # and the conversation goes on
    with sqlite3.connect(data_dir / "bookkeeper.db") as db:
        assert db.execute("SELECT count(*) FROM documents").fetchone() == (0,)


async def test_sql_conversation_store_keeps_history_by_channel_and_purges(
    tmp_path: Path,
) -> None:
    from bookkeeper.adapters.sql import SqlDatabase
    from bookkeeper.adapters.sql.conversations import SqlConversationStore
    from bookkeeper.application.conversation import ConversationMessage

    database = SqlDatabase(f"sqlite:///{tmp_path / 'chat.db'}")
    await database.migrate()
    store = SqlConversationStore(database)
    start = dt.datetime(2026, 11, 1, 12, 0, tzinfo=dt.UTC)

    def message(n: int, channel: str = "c1") -> ConversationMessage:
        return ConversationMessage(
            id=uuid.uuid4(),
            tenant_id="acme",
            channel_id=channel,
            user="human:ola",
            direction="in",
            text=f"m{n}",
            created_at=start + dt.timedelta(days=n),
            language="en" if n % 2 else "nb",
            proposal_id=uuid.uuid4() if n == 2 else None,
            proposal_status="PROPOSED" if n == 2 else None,
        )

    try:
        await store.add([message(0), message(1), message(2), message(3, "c2")])
        history = await store.history("acme", "c1")
        assert [m.text for m in history] == ["m0", "m1", "m2"]
        assert history[2].proposal_status == "PROPOSED" and history[2].proposal_id is not None
        assert history[1].language == "en" and history[0].created_at == start
        assert [m.text for m in await store.history("acme", "c1", limit=2)] == ["m1", "m2"]
        assert await store.history("other", "c1") == []
        assert await store.purge(start + dt.timedelta(days=2)) == 2
        assert [m.text for m in await store.history("acme", "c1")] == ["m2"]
    finally:
        await database.dispose()


@pytest.mark.skipif(
    not ocr.available() and os.environ.get("CI") != "true",
    reason="tesseract-ocr with Norwegian data is not installed",
)
def test_chat_reads_a_webp_photo_given_as_a_file(
    data_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Issue 13: `/file` with a WebP photo (called .pdf): accepted, stored as a JPEG, read.
    import random

    from tests.corpus.generate import LAYOUTS, photo

    doc = LAYOUTS["taxi"](random.Random("ocr-heic"))
    picture = tmp_path / "kvittering.pdf"
    picture.write_bytes(photo(doc.pdf, 7, fmt="WEBP"))
    monkeypatch.setattr("sys.stdin", io.StringIO(f"/file {picture}\n"))

    status = main(["chat", "--tenant", "acme", "--user", "ola"])

    out, err = capsys.readouterr()
    assert status == 0, err
    assert f"{doc.expected.gross:.2f}".replace(".", ",") in out, out
    with sqlite3.connect(data_dir / "bookkeeper.db") as db:
        stored = db.execute("SELECT content_type, filename FROM documents").fetchall()
    assert stored == [("image/jpeg", "kvittering.pdf.jpg")]


def test_chat_answers_a_vat_question_from_the_ledger_and_records_it(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(
        "sys.stdin", io.StringIO("hvor mye mva skal vi betale?\nwhat VAT do we owe for term 5?\n")
    )
    status = main(["chat", "--tenant", "acme", "--user", "ola"])
    out, err = capsys.readouterr()
    assert status == 0, err
    assert "Mva for termin " in out and "Fristen er " in out
    assert "VAT for term 5 " in out and "Due 10.12." in out
    assert "Send en kvittering" not in out
    with sqlite3.connect(data_dir / "bookkeeper.db") as db:
        events = db.execute("SELECT type, actor FROM events ORDER BY position").fetchall()
    # The unnamed question answers the term due next (while one is) and the current one.
    today = dt.datetime.now(ZoneInfo("Europe/Oslo")).date()
    unnamed = 2 if vat_term_due_next(today) is not None else 1
    assert events.count(("VatQueried", "human:ola")) == unnamed + 1


def test_chat_answers_questions_about_the_books_from_the_ledger(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Story 8: what the walk with an empty HOME asked, on books with two entries of today.
    import asyncio
    from decimal import Decimal

    from bookkeeper.adapters.sql import SqlDatabase, run_migrations
    from bookkeeper.adapters.system import SystemClock, UuidV7Ids
    from bookkeeper.application.authorization import RoleAuthorizer
    from bookkeeper.application.ledger import LedgerService
    from bookkeeper.application.ports import Principal
    from bookkeeper.domain.events import JournalLine

    data_dir.mkdir(parents=True)
    url = f"sqlite:///{data_dir / 'bookkeeper.db'}"
    run_migrations(url)
    today = dt.datetime.now(ZoneInfo("Europe/Oslo")).date()
    anna = Principal(subject="anna", tenant_id="acme", roles=frozenset({"accountant"}))

    async def post() -> None:
        database = SqlDatabase(url)
        ledger = LedgerService(database.uow_factory(), SystemClock(), UuidV7Ids(), RoleAuthorizer())
        try:
            for text, debit_account, credit_account, amount in (
                ("Salg til Kunde AS", "1500", "3000", "2000.00"),
                ("Adobe lisens", "6540", "2400", "800.00"),
            ):
                lines = [
                    JournalLine(account=debit_account, debit=Decimal(amount)),
                    JournalLine(account=credit_account, credit=Decimal(amount)),
                ]
                await ledger.post_manual(anna, today, text, lines)
        finally:
            await database.dispose()

    asyncio.run(post())
    questions = [
        "hva er resultatet hittil i år?",
        "hva skylder vi leverandører?",
        "hvor mye har vi brukt på programvare i år?",
        "saldo på konto 1500",
        "vis de siste 5 bilagene",
        "what do customers owe us?",
        # The balance sheet and costs by supplier, read through the SQL log and ledger.
        "vis balansen",
        "hva har vi brukt hos Adobe i år?",
        "costs by supplier this year",
    ]
    monkeypatch.setattr("sys.stdin", io.StringIO("\n".join(questions) + "\n"))

    status = main(["chat", "--tenant", "acme", "--user", "ola"])

    out, err = capsys.readouterr()
    assert status == 0, err
    day, first = today.strftime("%d.%m.%Y"), today.replace(month=1, day=1).strftime("%d.%m.%Y")
    assert f"Resultat {first} – {day}:" in out
    assert "Driftsinntekter: 2 000,00 kr" in out and "Årsresultat: 1 200,00 kr (overskudd)" in out
    assert f"Leverandørgjeld (konto 2400) per {day}: 800,00 kr." in out
    assert f"Kostnader til programvare {first} – {day}:" in out and "6540" in out
    assert "Saldo på konto 1500" in out and "2 000,00 kr (debet)." in out
    assert "De siste 2 bilagene:" in out
    # Newest first, with who posted them.
    assert out.index(f"{day} Adobe lisens: 800,00 kr, bokført av anna") < out.index(
        f"{day} Salg til Kunde AS: 2 000,00 kr, bokført av anna"
    )
    assert f"Accounts receivable (account 1500) as of {day}: 2 000,00 kr." in out
    assert f"Balanse per {day}:" in out and "Eiendeler: 2 000,00 kr" in out
    assert "Årets resultat, ikke disponert: 1 200,00 kr" in out
    assert f"Kostnader hos Adobe {first} – {day}: 800,00 kr uten mva, 1 bilag:" in out
    assert f"Costs by supplier {first} – {day}, largest first" in out
    assert "Adobe lisens: 800,00 kr (1 entry)" in out
    assert "Send en kvittering" not in out and "Ingen kostnader registrert" not in out
    with sqlite3.connect(data_dir / "bookkeeper.db") as db:
        events = db.execute("SELECT type, actor FROM events ORDER BY position").fetchall()
    assert events.count(("LedgerQueried", "human:ola")) == len(questions)
    assert not [e for e in events if e[0].endswith(("Proposed", "Approved", "Executed"))]
