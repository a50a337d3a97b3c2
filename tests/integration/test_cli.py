"""The `bookkeeper` command: token, serve (as a real process), migrate, replay, failures."""

from __future__ import annotations

import datetime as dt
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from bookkeeper.adapters.auth.errors import InvalidToken
from bookkeeper.adapters.auth.local_jwt import LocalJwtVerifier, load_or_create_signing_key
from bookkeeper.entrypoints.cli.main import main
from tests.http_helpers import API, address_in_use, announced_port, free_port, refusing_port
from tests.integration.conftest import PostgresServer

STARTUP_DEADLINE_SECONDS = 60
#: Starts of a server given a free port, which another process may take first.
PORT_ATTEMPTS = 5


def _verifier(data_dir: Path) -> LocalJwtVerifier:
    key = load_or_create_signing_key(data_dir / "jwt-signing-key.pem")
    return LocalJwtVerifier.for_private_key(key, issuer="bookkeeper-local", audience="bookkeeper")


# --- token --------------------------------------------------------------------------------


def test_token_prints_one_verifiable_line(
    data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status = main(
        ["token", "--subject", "book-e", "--tenant", "acme", "--role", "agent", "--role", "viewer"]
    )
    out, err = capsys.readouterr()
    assert status == 0, err
    lines = out.splitlines()
    assert len(lines) == 1
    principal = _verifier(data_dir).verify(lines[0])
    assert principal.subject == "book-e"
    assert principal.tenant_id == "acme"
    assert principal.roles == {"agent", "viewer"}
    key_file = data_dir / "jwt-signing-key.pem"
    assert key_file.stat().st_mode & 0o777 == 0o600


def test_token_reuses_the_existing_key(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    main(["token", "--subject", "a", "--tenant", "t", "--role", "viewer"])
    key = (data_dir / "jwt-signing-key.pem").read_bytes()
    main(["token", "--subject", "b", "--tenant", "t", "--role", "viewer", "--ttl-hours", "2"])
    out = capsys.readouterr().out.splitlines()
    assert (data_dir / "jwt-signing-key.pem").read_bytes() == key
    assert _verifier(data_dir).verify(out[-1]).subject == "b"


def test_token_mints_no_longer_than_the_api_accepts(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`--ttl-hours` is bounded by BOOKKEEPER_JWT_MAX_LIFETIME_HOURS (24 by default), the
    longest lifetime the API's verifier accepts: a token it would refuse is never printed,
    and one at the bound verifies."""
    argv = ["token", "--subject", "a", "--tenant", "t", "--role", "viewer", "--ttl-hours", "25"]
    assert main(argv) == 1
    out, err = capsys.readouterr()
    assert not out and "BOOKKEEPER_JWT_MAX_LIFETIME_HOURS" in err
    main(["token", "--subject", "a", "--tenant", "t", "--role", "viewer", "--ttl-hours", "24"])
    assert _verifier(data_dir).verify(capsys.readouterr().out.strip()).subject == "a"
    monkeypatch.setenv("BOOKKEEPER_JWT_MAX_LIFETIME_HOURS", "720")
    main(["token", "--subject", "b", "--tenant", "t", "--role", "viewer", "--ttl-hours", "720"])
    month = dt.timedelta(hours=720)
    key = load_or_create_signing_key(data_dir / "jwt-signing-key.pem")
    verifier = LocalJwtVerifier.for_private_key(
        key, issuer="bookkeeper-local", audience="bookkeeper", max_lifetime=month
    )
    token = capsys.readouterr().out.strip()
    assert verifier.verify(token).subject == "b"
    with pytest.raises(InvalidToken, match="lives longer"):
        _verifier(data_dir).verify(token)


@pytest.mark.parametrize(
    "argv",
    [
        ["token", "--tenant", "acme", "--role", "agent"],
        ["token", "--subject", "book-e", "--tenant", "acme"],
        ["token", "--subject", "book-e", "--tenant", "acme", "--role", "a", "--ttl-hours", "0"],
        ["serve", "--port", "70000"],
        ["teleport"],
        [],
    ],
)
def test_bad_arguments_exit_2(data_dir: Path, argv: list[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2


def test_bad_settings_exit_2_with_one_line_naming_the_variable(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("BOOKKEEPER_PORT", "eighty")
    status = main(["token", "--subject", "s", "--tenant", "t", "--role", "viewer"])
    out, err = capsys.readouterr()
    assert status == 2
    assert out == ""
    assert len(err.strip().splitlines()) == 1
    assert "BOOKKEEPER_PORT" in err


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("BOOKKEEPER_NATS_URL", "http://nats.example:4222"),
        ("BOOKKEEPER_CREDENTIALS_KEY", "not-a-fernet-key-but-a-secret"),
        ("BOOKKEEPER_BUS_APPROVAL_LIMIT", "lots"),
    ],
)
def test_serve_refuses_a_bad_variable_its_adapters_read_before_it_serves(
    data_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    name: str,
    value: str,
) -> None:
    """These were read only when the app was built in the server's worker: `serve` became
    the server, the worker's start failed with a traceback and exit status 3."""
    from bookkeeper.entrypoints.cli import main as cli

    served: list[object] = []
    monkeypatch.setattr(cli, "exec_server", served.append)
    monkeypatch.setattr(cli, "run_uvicorn", served.append)
    monkeypatch.setenv(name, value)
    status = main(["serve", "--port", "8123"])
    _out, err = capsys.readouterr()
    assert (status, served) == (2, [])
    assert err.startswith("bookkeeper: error: ") and len(err.strip().splitlines()) == 1
    assert name in err
    assert value not in err


def test_an_empty_subject_fails_with_one_line(
    data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status = main(["token", "--subject", " ", "--tenant", "t", "--role", "viewer"])
    out, err = capsys.readouterr()
    assert status == 1
    assert out == ""
    assert err.startswith("bookkeeper: error:") and len(err.strip().splitlines()) == 1


def test_an_unwritable_key_location_fails_with_one_line(
    data_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    monkeypatch.setenv("BOOKKEEPER_JWT_PRIVATE_KEY_FILE", str(blocker / "key.pem"))
    status = main(["token", "--subject", "s", "--tenant", "t", "--role", "viewer"])
    out, err = capsys.readouterr()
    assert status == 1
    assert out == ""
    assert len(err.strip().splitlines()) == 1


# --- migrate and replay (SQLite) ----------------------------------------------------------


def test_migrate_then_replay_on_sqlite(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("bookkeeper.adapters.sql")
    assert main(["migrate"]) == 0
    out = capsys.readouterr().out
    assert "migrated sqlite:///" in out
    assert (data_dir / "bookkeeper.db").exists()
    assert main(["migrate"]) == 0  # idempotent
    capsys.readouterr()
    assert main(["replay"]) == 0
    assert capsys.readouterr().out.strip() == ("events=0 proposals=0 patterns=0 journal_entries=0")


def test_replay_counts_what_the_api_recorded(
    data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("bookkeeper.adapters.sql")
    import asyncio

    from tests.http_helpers import running_api
    from tests.integration.test_http_sqlite import sqlite_container

    async def record() -> None:
        async with running_api(data_dir, container=sqlite_container(data_dir)) as api:
            await api.learn_adobe()  # 3 events: suggested, approved, applied
            await api.propose("BalanceQueried", {"accounts": []})  # 1 event, no proposal

    asyncio.run(record())
    assert main(["replay"]) == 0
    out, err = capsys.readouterr()
    assert out.strip() == ("events=4 proposals=1 patterns=1 journal_entries=0")
    # Not a terminal: the progress bar stays quiet (no control sequences in logs or pipes).
    assert "\x1b[" not in err and "\r" not in err


def test_execute_carries_out_what_was_approved_and_replay_rebuilds_its_ledger(
    data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An approved expense waits (the API ran with the executor off) until `bookkeeper
    execute` registers it in the sandbox books; replay then rebuilds its posting."""
    import asyncio

    from tests.http_helpers import expense, running_api
    from tests.integration.test_http_sqlite import sqlite_container

    async def approve() -> str:
        async with running_api(data_dir, container=sqlite_container(data_dir)) as api:
            proposed = await api.propose("ExpenseRegistrationProposed", expense())
            assert (await api.approve(proposed["proposalId"])).status_code == 200
            return str(proposed["proposalId"])

    asyncio.run(approve())
    assert main(["execute"]) == 0
    assert capsys.readouterr().out.strip() == (
        "claimed=1 executed=1 retried=0 failed=0 abandoned=0 reconciled=0 claim_errors=0"
    )
    assert main(["execute"]) == 0  # nothing left: nothing done twice
    assert capsys.readouterr().out.strip().startswith("claimed=0 executed=0")
    assert main(["replay"]) == 0
    assert capsys.readouterr().out.strip().endswith("journal_entries=1")


def test_an_unreachable_database_fails_with_one_line(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("bookkeeper.adapters.sql")
    with refusing_port() as port:
        monkeypatch.setenv(
            "BOOKKEEPER_DATABASE_URL", f"postgresql://nobody:s3cret@127.0.0.1:{port}/nothing"
        )
        status = main(["replay"])
    out, err = capsys.readouterr()
    assert status == 1
    assert out == ""
    assert len(err.strip().splitlines()) == 1
    assert "s3cret" not in err


def test_serve_hands_the_workers_health_timeout_to_the_server(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """BOOKKEEPER_WORKER_HEALTH_TIMEOUT_SECONDS reaches the lean server (and uvicorn's own
    supervisor where `serve` cannot become that server)."""
    from bookkeeper.entrypoints.cli import main as cli

    given: list[object] = []
    monkeypatch.setattr(cli, "exec_server", lambda launch: given.append(launch.health_timeout))
    monkeypatch.setattr(cli, "run_uvicorn", lambda launch: given.append(launch.health_timeout))
    monkeypatch.setenv("BOOKKEEPER_WORKER_HEALTH_TIMEOUT_SECONDS", "9")
    assert main(["serve", "--port", "8123", "--workers", "2"]) == 0
    assert given == [9, 9]


def test_serve_on_port_0_lets_the_system_pick_a_free_port(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """0 is a port to bind (the server logs which one it got), not "unset" (8000)."""
    from bookkeeper.entrypoints.cli import main as cli

    ports: list[object] = []
    monkeypatch.setattr(cli, "exec_server", lambda launch: ports.append(launch.port))
    monkeypatch.setattr(cli, "run_uvicorn", lambda launch: ports.append(launch.port))
    assert main(["serve", "--port", "0"]) == 0
    assert ports == [0, 0]


# --- serve (a real process) ---------------------------------------------------------------


def _serving(process: subprocess.Popen[bytes], log: Path, port: int) -> str | None:
    """The base URL once `serve` answers /health (its port read from its log when it was
    started on port 0); None when it exited."""
    deadline = time.monotonic() + STARTUP_DEADLINE_SECONDS
    while True:
        if process.poll() is not None:
            return None
        port = port or announced_port(log.read_text()) or 0
        if port:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                    return f"http://127.0.0.1:{port}"
            except httpx.TransportError:
                pass
        if time.monotonic() > deadline:
            process.kill()
            process.wait()
            pytest.fail(f"serve did not answer /health in time:\n{log.read_text()}")
        time.sleep(0.05)  # polling interval, not a wait for something to happen


def _command() -> list[str]:
    script = Path(sys.executable).parent / "bookkeeper"
    if script.exists():
        return [str(script)]
    found = shutil.which("bookkeeper")
    return [found] if found else [sys.executable, "-m", "bookkeeper.entrypoints.cli.main"]


@pytest.fixture(params=["uvicorn", "granian"])
def server(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[tuple[str, Path, Path]]:
    """`bookkeeper serve` in each server it can run in (BOOKKEEPER_SERVER, ADR 0039)."""
    pytest.importorskip("bookkeeper.adapters.sql")
    data_dir = tmp_path / "served"
    env = {k: v for k, v in os.environ.items() if not k.startswith("BOOKKEEPER_")}
    env["BOOKKEEPER_DATA_DIR"] = str(data_dir)
    env["BOOKKEEPER_SERVER"] = request.param
    log = tmp_path / "server.log"
    for attempt in range(1, PORT_ATTEMPTS + 1):
        # uvicorn binds a port of its own choosing and logs it; granian logs only the
        # port it was given, so it gets a free one, and another go if that was taken.
        port = 0 if request.param == "uvicorn" else free_port()
        with log.open("wb") as output:
            process = subprocess.Popen(
                [*_command(), "serve", "--port", str(port)],
                env=env,
                stdout=output,
                stderr=subprocess.STDOUT,
            )
        base = _serving(process, log, port)
        if base is not None:
            break
        if not (port and address_in_use(log.read_text()) and attempt < PORT_ATTEMPTS):
            pytest.fail(f"serve exited with {process.returncode}:\n{log.read_text()}")
    assert base is not None
    try:
        yield base, data_dir, log
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def test_serve_answers_health_and_accepts_a_minted_token(
    server: tuple[str, Path, Path],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    base, data_dir, log = server
    health = httpx.get(f"{base}/health", timeout=5)
    assert health.json()["status"] == "ok"
    assert health.json()["database"]["dialect"] == "sqlite"
    assert health.headers["x-content-type-options"] == "nosniff"

    monkeypatch.setenv("BOOKKEEPER_DATA_DIR", str(data_dir))
    assert main(["token", "--subject", "vera", "--tenant", "acme", "--role", "viewer"]) == 0
    token = capsys.readouterr().out.strip()
    patterns = httpx.get(
        f"{base}{API}/patterns", headers={"Authorization": f"Bearer {token}"}, timeout=5
    )
    assert patterns.status_code == 200, patterns.text
    assert httpx.get(f"{base}{API}/patterns", timeout=5).status_code == 401

    output = log.read_text()
    assert str(data_dir / "jwt-signing-key.pem") in output
    assert f"sqlite:///{data_dir / 'bookkeeper.db'}" in output
    assert token not in output


def test_serve_logs_only_addresses_it_can_be_reached_at(server: tuple[str, Path, Path]) -> None:
    """Started on port 0 (uvicorn), `serve` said "serving on http://127.0.0.1:0" before
    the system had chosen a port: every address in the log now names the bound port."""
    base, _, log = server
    output = log.read_text()
    addresses = re.findall(r"http://127\.0\.0\.1(:\d+)?", output)
    assert addresses and ":0" not in addresses
    assert base[len("http://127.0.0.1") :] in addresses


# --- token attributes (ABAC) ----------------------------------------------------------------


def test_token_mints_abac_attributes(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status = main(
        [
            *("token", "--subject", "kari", "--tenant", "acme", "--role", "reviewer"),
            *("--attr", "approval_limit=5000", "--attr", "department=sales"),
        ]
    )
    out, err = capsys.readouterr()
    assert status == 0, err
    principal = _verifier(data_dir).verify(out.strip())
    assert principal.attributes == {"approval_limit": "5000.00", "department": "sales"}


@pytest.mark.parametrize("subject", ["kari\nadmin", "kari\x00", "kari\u2028"])
def test_token_refuses_a_subject_the_api_would_refuse(
    data_dir: Path, capsys: pytest.CaptureFixture[str], subject: str
) -> None:
    """A subject with a line break was minted (exit 0), and every request with the token
    then got 401 ("the token's subject is not a usable name")."""
    status = main(["token", "--subject", subject, "--tenant", "t", "--role", "viewer"])
    out, err = capsys.readouterr()
    assert status == 1
    assert out == ""
    assert err.startswith("bookkeeper: error:") and len(err.strip().splitlines()) == 1
    assert "printable" in err


@pytest.mark.parametrize(
    "attr", ["approval_limit", "approval_limit=lots", "clearance=top", "department=a\x01b"]
)
def test_token_refuses_bad_attributes(
    data_dir: Path, capsys: pytest.CaptureFixture[str], attr: str
) -> None:
    status = main(["token", "--subject", "k", "--tenant", "t", "--role", "viewer", "--attr", attr])
    out, err = capsys.readouterr()
    assert status == 1
    assert out == ""
    assert err.startswith("bookkeeper: error:") and len(err.strip().splitlines()) == 1
    assert "\x01" not in err


@pytest.mark.parametrize("roles", [["superuser"], ["viewer", "root"], ["Admin"]])
def test_token_refuses_a_role_that_does_not_exist(
    data_dir: Path, capsys: pytest.CaptureFixture[str], roles: list[str]
) -> None:
    from bookkeeper.application.authorization import ROLES

    argv = ["token", "--subject", "s", "--tenant", "acme"]
    for role in roles:
        argv += ["--role", role]
    with pytest.raises(SystemExit) as exited:
        main(argv)
    out, err = capsys.readouterr()
    assert exited.value.code == 2  # a bad argument, as for `policy … --role`
    assert out == ""  # no token printed
    bad = next(role for role in roles if role not in ROLES)
    assert repr(bad) in err
    assert all(role in err for role in ROLES)


def test_migrate_of_a_database_that_cannot_be_reached_says_so_as_replay_does(
    data_dir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`migrate` against a PostgreSQL that is down said 'the command failed unexpectedly
    …: (psycopg.OperationalError) connection failed …': a defect's words and a class
    name for the commonest condition of all; `replay` says 'database unavailable'."""
    monkeypatch.setenv("BOOKKEEPER_DATABASE_URL", "postgresql://bk:s3cret@127.0.0.1:9/none")
    assert main(["migrate"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("bookkeeper: error: ") and err.count("\n") == 1
    assert "database unavailable" in err
    assert "unexpectedly" not in err and "OperationalError" not in err and "s3cret" not in err


def test_migrate_of_a_database_a_newer_version_migrated_says_which(
    data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Going back to an older bookkeeper after a newer one migrated the database: alembic's
    "Can't locate revision identified by '0099'" came out as a defect ('failed
    unexpectedly'), not as what it is and what to do."""
    import sqlite3

    assert main(["migrate"]) == 0
    with sqlite3.connect(data_dir / "bookkeeper.db") as connection:
        connection.execute("UPDATE alembic_version SET version_num = '0099_from_the_future'")
    capsys.readouterr()
    assert main(["migrate"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "unexpectedly" not in err
    assert "0099_from_the_future" in err and "newer" in err


def test_serve_refuses_a_postgresql_database_not_at_its_schema(
    data_dir: Path,
    postgres_server: PostgresServer,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """`serve` migrates only the embedded SQLite. On a PostgreSQL database never migrated it
    served anyway, healthy and ready, and every request that touched the database failed
    with 500 (relation "proposals" does not exist); one a newer version migrated, the same.
    It refuses now, saying what to do, and serves once `migrate` has run."""
    import psycopg

    from bookkeeper.entrypoints.cli import main as cli

    served: list[object] = []
    monkeypatch.setattr(cli, "exec_server", served.append)
    monkeypatch.setattr(cli, "run_uvicorn", served.append)
    empty = postgres_server.create()
    url = postgres_server.url_of(empty)
    monkeypatch.setenv("BOOKKEEPER_DATABASE_URL", url)
    try:
        assert main(["serve", "--port", "8123"]) == 1
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "never migrated" in err and "bookkeeper migrate" in err
        assert served == []

        assert main(["migrate"]) == 0
        assert main(["serve", "--port", "8123"]) == 0
        assert len(served) == 2  # the lean server (here: returns), then uvicorn in-process

        with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://")) as db:
            db.execute("UPDATE alembic_version SET version_num = '0099_from_the_future'")
        capsys.readouterr()
        assert main(["serve", "--port", "8123"]) == 1
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "0099_from_the_future" in err and "newer" in err
        assert len(served) == 2
    finally:
        postgres_server.drop_later(empty)
