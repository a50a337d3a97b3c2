"""Settings from BOOKKEEPER_* variables: defaults, overrides, and errors that name the variable."""

from __future__ import annotations

from pathlib import Path

import pytest

from bookkeeper.settings import Settings, SettingsError, load_settings

HOME = {"HOME": "/home/kari"}


def test_defaults_follow_the_xdg_spec() -> None:
    settings = load_settings(HOME)
    data = Path("/home/kari/.local/share/bookkeeper")
    assert settings == Settings(
        data_dir=data,
        database_url=f"sqlite:///{data}/bookkeeper.db",
        jwt_private_key_file=data / "jwt-signing-key.pem",
        jwt_issuer="bookkeeper-local",
        jwt_audience="bookkeeper",
        host="127.0.0.1",
        port=8000,
        log_level="INFO",
        db_pool_size=20,
        db_max_overflow=50,
    )
    assert settings.database_url == "sqlite:////home/kari/.local/share/bookkeeper/bookkeeper.db"
    assert settings.database_is_embedded_sqlite


def test_xdg_data_home_is_used_when_absolute() -> None:
    settings = load_settings(HOME | {"XDG_DATA_HOME": "/var/xdg"})
    assert settings.data_dir == Path("/var/xdg/bookkeeper")
    relative = load_settings(HOME | {"XDG_DATA_HOME": "relative/dir"})
    assert relative.data_dir == Path("/home/kari/.local/share/bookkeeper")


def test_the_data_dir_moves_the_database_and_the_key() -> None:
    settings = load_settings(HOME | {"BOOKKEEPER_DATA_DIR": "/data"})
    assert settings.database_url == "sqlite:////data/bookkeeper.db"
    assert settings.jwt_private_key_file == Path("/data/jwt-signing-key.pem")


def test_every_variable_overrides() -> None:
    settings = load_settings(
        {
            "BOOKKEEPER_DATA_DIR": "/data",
            "BOOKKEEPER_DATABASE_URL": "postgresql://bookkeeper:pw@db/bookkeeper",
            "BOOKKEEPER_JWT_PRIVATE_KEY_FILE": "/secrets/key.pem",
            "BOOKKEEPER_JWT_ISSUER": "https://id.example",
            "BOOKKEEPER_JWT_AUDIENCE": "bookkeeper-api",
            "BOOKKEEPER_HOST": "0.0.0.0",
            "BOOKKEEPER_PORT": "9000",
            "BOOKKEEPER_LOG_LEVEL": "debug",
            "BOOKKEEPER_DB_POOL_SIZE": "32",
            "BOOKKEEPER_DB_MAX_OVERFLOW": "0",
            "BOOKKEEPER_DB_GROUP_WRITERS": "0",
            "BOOKKEEPER_EXECUTOR_TENANTS": "16",
            "BOOKKEEPER_EXECUTOR_LEASE_SECONDS": "12",
            "BOOKKEEPER_EXECUTOR_RETRY_SECONDS": "2",
            "BOOKKEEPER_WORKER_HEALTH_TIMEOUT_SECONDS": "12",
        }
    )
    assert settings.database_url == "postgresql://bookkeeper:pw@db/bookkeeper"
    assert not settings.database_is_embedded_sqlite
    assert settings.jwt_private_key_file == Path("/secrets/key.pem")
    assert (settings.jwt_issuer, settings.jwt_audience) == ("https://id.example", "bookkeeper-api")
    assert (settings.host, settings.port) == ("0.0.0.0", 9000)
    assert settings.log_level == "DEBUG"
    assert (settings.db_pool_size, settings.db_max_overflow) == (32, 0)
    assert settings.db_group_writers == 0
    assert settings.executor_tenant_concurrency == 16
    assert settings.executor_lease_seconds == 12
    assert settings.executor_retry_seconds == 2
    assert settings.worker_health_timeout_seconds == 12


def test_empty_variables_count_as_unset() -> None:
    settings = load_settings(HOME | {"BOOKKEEPER_PORT": "", "BOOKKEEPER_DATABASE_URL": "  "})
    assert settings.port == 8000
    assert settings.database_url.startswith("sqlite:///")


def test_a_relative_data_dir_is_made_absolute_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    settings = load_settings(HOME | {"BOOKKEEPER_DATA_DIR": "data"})
    assert settings.data_dir == tmp_path / "data"


def test_token_lifetimes_default_to_a_day_and_thirty_days() -> None:
    """ADR 0013 addendum: the longest token lifetime the verifiers accept."""
    settings = load_settings(HOME)
    assert (settings.jwt_max_lifetime_hours, settings.oidc_max_lifetime_hours) == (24, 720)
    changed = load_settings(
        HOME
        | {"BOOKKEEPER_JWT_MAX_LIFETIME_HOURS": "8784", "BOOKKEEPER_OIDC_MAX_LIFETIME_HOURS": "1"}
    )
    assert (changed.jwt_max_lifetime_hours, changed.oidc_max_lifetime_hours) == (8784, 1)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("BOOKKEEPER_PORT", "eighty"),
        ("BOOKKEEPER_PORT", "0"),
        ("BOOKKEEPER_PORT", "70000"),
        ("BOOKKEEPER_DB_POOL_SIZE", "0"),
        ("BOOKKEEPER_DB_POOL_SIZE", "2.5"),
        ("BOOKKEEPER_DB_MAX_OVERFLOW", "-1"),
        ("BOOKKEEPER_DB_GROUP_WRITERS", "-1"),
        ("BOOKKEEPER_DB_GROUP_WRITERS", "65"),
        ("BOOKKEEPER_EXECUTOR_TENANTS", "0"),
        ("BOOKKEEPER_EXECUTOR_LEASE_SECONDS", "2"),
        ("BOOKKEEPER_EXECUTOR_LEASE_SECONDS", "soon"),
        ("BOOKKEEPER_EXECUTOR_RETRY_SECONDS", "0"),
        ("BOOKKEEPER_WORKER_HEALTH_TIMEOUT_SECONDS", "0"),
        ("BOOKKEEPER_WORKER_HEALTH_TIMEOUT_SECONDS", "soon"),
        ("BOOKKEEPER_LOG_LEVEL", "LOUD"),
        ("BOOKKEEPER_JWT_MAX_LIFETIME_HOURS", "0"),
        ("BOOKKEEPER_JWT_MAX_LIFETIME_HOURS", "8785"),
        ("BOOKKEEPER_OIDC_MAX_LIFETIME_HOURS", "forever"),
        ("BOOKKEEPER_DATABASE_URL", "mysql://root@db/x"),
        ("BOOKKEEPER_DATABASE_URL", "bookkeeper.db"),
    ],
)
def test_bad_values_name_their_variable(name: str, value: str) -> None:
    with pytest.raises(SettingsError, match=name):
        load_settings(HOME | {name: value})


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://kari:s3cret@db.example:notaport/books",
        "postgresql://kari:s3cret@db.example:70000/books",
        "postgresql://kari:s3cret@[::1/books",
        "postgresql://kari:p@zzw0rd@db.example/books",
    ],
)
def test_a_postgresql_url_that_cannot_be_read_is_refused_without_its_password(url: str) -> None:
    """A port that is no number reached the operator as "failed unexpectedly" (exit 1); an
    unencoded @ in the password made its rest the host, printed by the connection error."""
    with pytest.raises(SettingsError, match="BOOKKEEPER_DATABASE_URL") as refused:
        load_settings(HOME | {"BOOKKEEPER_DATABASE_URL": url})
    assert "s3cret" not in str(refused.value) and "zzw0rd" not in str(refused.value)


def test_a_readable_postgresql_url_is_accepted() -> None:
    for url in (
        "postgresql://bookkeeper@db.example/bookkeeper",
        "postgresql://kari:p%40ss@db.example:5433/books",
        "postgresql://bookkeeper@/bookkeeper?host=/var/run/postgresql",
        "postgresql+psycopg://bookkeeper@127.0.0.1:5432/test",
    ):
        assert load_settings(HOME | {"BOOKKEEPER_DATABASE_URL": url}).database_url == url


@pytest.mark.parametrize(
    "name", ["BOOKKEEPER_RATE_LIMIT", "BOOKKEEPER_RATE_LIMIT_WRITES", "BOOKKEEPER_RATE_LIMIT_LOGIN"]
)
@pytest.mark.parametrize("value", ["0/minute", "10/second;0/hour"])
def test_a_rate_limit_of_nothing_is_refused(name: str, value: str) -> None:
    """0/minute was taken, and every request it counts was refused with 429."""
    with pytest.raises(SettingsError, match=f"{name} must allow at least 1"):
        load_settings(HOME | {name: value})


@pytest.mark.parametrize(
    "url", ["redis://:redispass@cache.example:badport/0", "rediss://u:redispass@cache:99999"]
)
def test_a_redis_url_with_a_bad_port_is_refused_without_its_password(url: str) -> None:
    """It was taken, and serve's app start failed with a traceback printing the URL."""
    with pytest.raises(SettingsError, match="BOOKKEEPER_REDIS_URL") as refused:
        load_settings(HOME | {"BOOKKEEPER_REDIS_URL": url})
    assert "redispass" not in str(refused.value)


@pytest.mark.parametrize("secret", ["hunter2", "x" * 31])
def test_a_short_web_secret_is_refused_without_repeating_it(secret: str) -> None:
    """It was taken as it was: a guessable key of the web page's CSRF tokens."""
    with pytest.raises(SettingsError, match="BOOKKEEPER_WEB_SECRET must be at least 32") as no:
        load_settings(HOME | {"BOOKKEEPER_WEB_SECRET": secret})
    assert secret not in str(no.value)
    strong = "k" * 32
    assert load_settings(HOME | {"BOOKKEEPER_WEB_SECRET": strong}).web_secret == strong
    assert load_settings(HOME | {"BOOKKEEPER_WEB_SECRET": ""}).web_secret is None


def test_the_fiken_gate_in_the_database_needs_postgresql_at_start() -> None:
    """Refused only when serve's first request built the backends: a traceback of the
    app's start, exit 3."""
    with pytest.raises(SettingsError, match="BOOKKEEPER_FIKEN_GATE"):
        load_settings(HOME | {"BOOKKEEPER_FIKEN_GATE": "database"})
    postgres = {"BOOKKEEPER_DATABASE_URL": "postgresql://bookkeeper@db.example/bookkeeper"}
    assert load_settings(HOME | postgres | {"BOOKKEEPER_FIKEN_GATE": "database"}).fiken_gate == (
        "database"
    )


def test_for_data_dir_builds_test_settings(tmp_path: Path) -> None:
    settings = Settings.for_data_dir(tmp_path, port=1234)
    assert settings.database_url == f"sqlite:///{tmp_path}/bookkeeper.db"
    assert settings.port == 1234


def test_the_company_orgnr_must_carry_a_valid_check_digit() -> None:
    base = {"BOOKKEEPER_DATA_DIR": "/tmp/bk"}
    assert load_settings({**base, "BOOKKEEPER_COMPANY_ORGNR": "923 609 016"}).company_orgnr == (
        "923609016"
    )
    for wrong in ("923609017", "92360901", "abc"):
        with pytest.raises(SettingsError, match="COMPANY_ORGNR"):
            load_settings({**base, "BOOKKEEPER_COMPANY_ORGNR": wrong})


def test_exchange_rates_are_off_unless_named() -> None:
    from bookkeeper.settings import NORGES_BANK_URL, SettingsError, load_settings

    assert load_settings({}).exchange_rates_url is None
    named = load_settings({"BOOKKEEPER_EXCHANGE_RATES": "norges-bank"})
    assert named.exchange_rates_url == NORGES_BANK_URL
    mirror = load_settings({"BOOKKEEPER_EXCHANGE_RATES": "http://127.0.0.1:9/api"})
    assert mirror.exchange_rates_url == "http://127.0.0.1:9/api"
    with pytest.raises(SettingsError):
        load_settings({"BOOKKEEPER_EXCHANGE_RATES": "ecb"})


def test_the_server_is_uvicorn_unless_granian_is_named() -> None:
    from bookkeeper.settings import SettingsError, load_settings

    assert load_settings({}).server == "uvicorn"
    assert load_settings({"BOOKKEEPER_SERVER": " Granian "}).server == "granian"
    with pytest.raises(SettingsError, match="BOOKKEEPER_SERVER"):
        load_settings({"BOOKKEEPER_SERVER": "gunicorn"})


def test_a_worker_has_five_seconds_for_a_health_check_unless_set() -> None:
    """The supervisor's timeout of `serve --workers N` (uvicorn's default, as before)."""
    assert load_settings(HOME).worker_health_timeout_seconds == 5
