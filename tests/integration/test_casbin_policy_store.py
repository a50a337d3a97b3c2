"""Policies in the database: `bookkeeper policy` changes them, a running service notices
on its next request (reload interval 0) without a restart — on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from bookkeeper.adapters.auth.casbin_authorizer import (
    CasbinAuthorizer,
    PolicyAdmin,
    SqlPolicyStore,
    default_rules,
)
from bookkeeper.application.errors import StorageUnavailable
from bookkeeper.application.ports import Principal
from bookkeeper.entrypoints.cli.main import main
from tests.http_helpers import API, Api, running_api
from tests.integration.test_http_role_matrix import policy_container


def cli(*argv: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    status = main(["policy", *argv])
    out, err = capsys.readouterr()
    return status, out, err


async def _revoke_takes_effect_on_the_next_request(
    tmp_path: Path, url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("BOOKKEEPER_DATABASE_URL", url)
    async with running_api(tmp_path, container=policy_container(tmp_path, url)) as api:

        async def events(api: Api, *roles: str, subject: str = "vera") -> int:
            response = await api.client.get(f"{API}/events", headers=api.headers(subject, *roles))
            return response.status_code

        async def policy(*argv: str) -> str:
            status = await asyncio.to_thread(main, ["policy", *argv])
            out, err = capsys.readouterr()
            assert status == 0, err
            return out

        assert await events(api, "viewer") == 200
        out = await policy(
            "revoke", "--role", "viewer", "--action", "events:read", "--tenant", "acme"
        )
        assert out == "added deny viewer events:read acme\n"
        assert await events(api, "viewer") == 403
        assert await events(api, "reviewer") == 200

        # A role granted in the database counts as one of the token's.
        await policy("grant-role", "--subject", "vera", "--role", "reviewer", "--tenant", "acme")
        assert await events(api, "viewer") == 403  # the deny on viewer still wins
        await policy("allow", "--role", "viewer", "--action", "events:read", "--tenant", "acme")
        await policy("revoke", "--role", "reviewer", "--action", "events:read", "--tenant", "*")
        assert await events(api, "reviewer", subject="kari") == 403
        assert await events(api, "auditor") == 403  # vera's grant is reviewer: now useless
        assert await events(api, "viewer") == 200
        await policy("revoke-role", "--subject", "vera", "--role", "reviewer", "--tenant", "acme")
        await policy("allow", "--role", "reviewer", "--action", "events:read", "--tenant", "*")
        assert await events(api, "reviewer", subject="kari") == 200


async def test_a_revoke_on_sqlite_is_403_on_the_next_request(
    tmp_path: Path,
    sqlite_url: str,
    monkeypatch: pytest.MonkeyPatch,
    data_dir: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    await _revoke_takes_effect_on_the_next_request(tmp_path, sqlite_url, monkeypatch, capsys)


@pytest.mark.postgres
async def test_a_revoke_on_postgres_is_403_on_the_next_request(
    tmp_path: Path,
    postgres_url: str,
    monkeypatch: pytest.MonkeyPatch,
    data_dir: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    await _revoke_takes_effect_on_the_next_request(tmp_path, postgres_url, monkeypatch, capsys)


@pytest.mark.postgres
@pytest.mark.parametrize(
    "url",
    [
        "postgresql://postgres@127.0.0.1:1/nothing?connect_timeout=2",
        "sqlite:////nonexistent-dir/for/sure/books.sqlite3",
    ],
)
def test_no_policy_loaded_and_no_database_is_storage_unavailable(url: str) -> None:
    """Fail closed, as the database's outage (503 with Retry-After), not as a bug (500)."""
    store = SqlPolicyStore(url)
    try:
        authorizer = CasbinAuthorizer(store)
        principal = Principal(subject="s", tenant_id="acme", roles=frozenset({"agent"}))
        with pytest.raises(StorageUnavailable):
            authorizer.allows(principal, "events:read")
    finally:
        store.close()


def test_the_postgres_seed_and_the_version_trigger(postgres_url: str) -> None:
    store = SqlPolicyStore(postgres_url)
    try:
        admin = PolicyAdmin(store)
        assert set(admin.rules()) == set(default_rules())
        before = store.version()
        admin.grant_role("kari", "admin", "acme")
        assert store.version() > before
        changed = store.version()
        admin.grant_role("kari", "admin", "acme")  # unchanged: nothing written
        assert store.version() == changed
    finally:
        store.close()


def test_the_policy_cli_round_trip(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = cli("list", capsys=capsys)
    assert status == 0, err
    seeded = out.splitlines()
    assert len(seeded) == len(default_rules())
    assert "allow  accountant  ledger:post          *" in seeded

    assert (
        cli(
            "allow",
            "--role",
            "viewer",
            "--action",
            "ledger:post",
            "--tenant",
            "acme",
            capsys=capsys,
        )[1]
        == "added allow viewer ledger:post acme\n"
    )
    assert (
        cli(
            "grant-role",
            "--subject",
            "kari",
            "--role",
            "reviewer",
            "--tenant",
            "acme",
            capsys=capsys,
        )[1]
        == "granted reviewer to kari in acme\n"
    )
    acme = cli("list", "--tenant", "acme", capsys=capsys)[1].splitlines()
    assert "allow  viewer      ledger:post          acme" in acme
    assert "role   kari  reviewer  acme" in acme
    assert not any(" globex" in line for line in acme)
    assert cli("list", "--tenant", "globex", capsys=capsys)[1].splitlines() == seeded

    assert (
        cli(
            "revoke",
            "--role",
            "viewer",
            "--action",
            "ledger:post",
            "--tenant",
            "acme",
            capsys=capsys,
        )[1]
        == "removed allow viewer ledger:post acme\n"
    )
    assert (
        cli(
            "revoke-role",
            "--subject",
            "kari",
            "--role",
            "reviewer",
            "--tenant",
            "acme",
            capsys=capsys,
        )[1]
        == "revoked reviewer from kari in acme\n"
    )
    assert cli("list", capsys=capsys)[1].splitlines() == seeded


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ("revoke", "--role", "viewer", "--action", "events:readAll", "--tenant", "*"),
            "unknown action 'events:readAll'",
        ),
        (
            ("revoke", "--role", "viewer", "--action", "events:read"),
            "policy revoke needs --tenant: the tenant it applies in, or --tenant '*'",
        ),
        (
            ("allow", "--role", "viewer", "--action", "events:read"),
            "policy allow needs --tenant",
        ),
    ],
)
def test_the_policy_cli_refuses_unknown_names_in_one_line(
    data_dir: Path, capsys: pytest.CaptureFixture[str], argv: tuple[str, ...], message: str
) -> None:
    status, out, err = cli(*argv, capsys=capsys)
    assert status == 1
    assert out == ""
    assert err.startswith(f"bookkeeper: error: {message}")
    assert err.count("\n") == 1


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ("allow", "--role", "auditor", "--action", "events:read", "--tenant", "acme"),
            "unknown role 'auditor'",
        ),
        (
            ("grant-role", "--subject", "kari", "--role", "viewer", "--tenant", "*"),
            "'*' means every tenant and is not a tenant",
        ),
    ],
)
def test_names_nothing_can_have_are_refused_as_arguments_before_anything_opens(
    data_dir: Path, capsys: pytest.CaptureFixture[str], argv: tuple[str, ...], message: str
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["policy", *argv])
    out, err = capsys.readouterr()
    assert exited.value.code == 2 and out == ""
    assert message in err and "Traceback" not in err
