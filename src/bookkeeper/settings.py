"""Process settings, read once from `BOOKKEEPER_*` environment variables by `load_settings`.

Nothing is read at import time: the composition root calls `load_settings()` once (or a
test builds a `Settings` directly). Every bad value raises `SettingsError` naming the
variable, so a misconfigured container fails at start with one clear line.

| variable                          | default                                          |
|-----------------------------------|--------------------------------------------------|
| BOOKKEEPER_DATA_DIR               | $XDG_DATA_HOME/bookkeeper or ~/.local/share/bookkeeper |
| BOOKKEEPER_DATABASE_URL           | sqlite:///<data dir>/bookkeeper.db               |
| BOOKKEEPER_JWT_PRIVATE_KEY_FILE   | <data dir>/jwt-signing-key.pem                   |
| BOOKKEEPER_JWT_ISSUER             | bookkeeper-local                                 |
| BOOKKEEPER_JWT_AUDIENCE           | bookkeeper                                       |
| BOOKKEEPER_OIDC_ISSUER            | unset: tokens are verified with the local key    |
| BOOKKEEPER_OIDC_AUDIENCE          | BOOKKEEPER_JWT_AUDIENCE                          |
| BOOKKEEPER_OIDC_JWKS_URL          | unset: discovered from the issuer                |
| BOOKKEEPER_JWT_ALGORITHMS         | RS256,ES256,EdDSA (accepted from the issuer)     |
| BOOKKEEPER_OIDC_TENANT_CLAIM      | tenant                                           |
| BOOKKEEPER_OIDC_ROLES_CLAIM       | roles (e.g. realm_access.roles for Keycloak)     |
| BOOKKEEPER_HOST / BOOKKEEPER_PORT | 127.0.0.1 / 8000                                 |
| BOOKKEEPER_LOG_LEVEL              | INFO                                             |
| BOOKKEEPER_LOG_FORMAT             | text on a terminal, json otherwise (json|text)   |
| BOOKKEEPER_DB_POOL_SIZE           | 20                                               |
| BOOKKEEPER_DB_MAX_OVERFLOW        | 50                                               |
| BOOKKEEPER_FIKEN_TOKEN            | unset: the sandbox books in the local database   |
| BOOKKEEPER_FIKEN_COMPANY          | (required with a Fiken token: the company slug)  |
| BOOKKEEPER_FIKEN_BASE_URL         | https://api.fiken.no/api/v2                      |
| BOOKKEEPER_FOLIO_TOKEN            | unset: the sandbox bank in the local database    |
| BOOKKEEPER_FOLIO_BASE_URL         | https://api.folio.no/v2                          |
| BOOKKEEPER_CREDENTIALS_KEY        | unset: no tenant's own credentials can be stored |
|                                   | (Fernet keys, comma list; the first encrypts)    |
| BOOKKEEPER_CREDENTIALS_RECHECK_SECONDS | 5 (how soon replicas see a credentials change) |
| BOOKKEEPER_ANTHROPIC_API_KEY      | unset: no Claude extraction                      |
| BOOKKEEPER_ANTHROPIC_BASE_URL     | unset: the SDK default (https://api.anthropic.com) |
| BOOKKEEPER_ANTHROPIC_MODEL        | claude-haiku-4-5                                 |
| BOOKKEEPER_EXECUTOR               | on (off: approved actions wait for another process) |
| BOOKKEEPER_EXECUTOR_INTERVAL      | 5 (seconds between polls for due work)           |
| BOOKKEEPER_EXECUTOR_MAX_ATTEMPTS  | 6 (attempts for failures other than outages)     |
| BOOKKEEPER_EXECUTOR_GIVE_UP_HOURS | 24 (outages retried this long; 0: counted as attempts) |
| BOOKKEEPER_EXECUTOR_TENANTS       | 8 (tenants executed at once; each one at a time) |
| BOOKKEEPER_EXECUTOR_LEASE_SECONDS | 30 (an attempt's lease, renewed while it runs; 3..3600) |
| BOOKKEEPER_EXECUTOR_RETRY_SECONDS | 30 (first back-off after a failed attempt, doubling to 1 h) |
| BOOKKEEPER_PAYMENT_ACCOUNT        | unset: the books' first active bank account      |
| BOOKKEEPER_RATE_LIMIT             | 600/minute per tenant+principal (`off`; `a;b` for several) |
| BOOKKEEPER_RATE_LIMIT_WRITES      | 120/minute more for POST/PUT/PATCH/DELETE (`off`) |
| BOOKKEEPER_REDIS_URL              | unset: rate limits counted per process (set: shared) |
| BOOKKEEPER_FIKEN_GATE             | auto: Fiken's limits shared on PostgreSQL (process|database) |
| BOOKKEEPER_CORS_ORIGINS           | unset: no CORS (comma list of https://host[:port]) |
| BOOKKEEPER_FETCH_ALLOWED_HOSTS    | cdn.discordapp.com,media.discordapp.net          |
| BOOKKEEPER_POLICY_RELOAD_SECONDS  | 5 (how stale an authorization policy may be; 0: none) |
| BOOKKEEPER_DISCORD_TOKEN          | unset: no Discord bot (`serve` starts it when set) |
| BOOKKEEPER_DISCORD_TENANT         | (required with a Discord token: the tenant served) |
| BOOKKEEPER_DISCORD_INVOICES_CHANNEL | unset: documents by DM only (a channel id)     |
| BOOKKEEPER_DISCORD_REVIEW_CHANNEL | unset: no review requests posted (a channel id)  |
| BOOKKEEPER_DISCORD_USERS          | unset: nobody reviews on Discord (see below)     |
| BOOKKEEPER_PEOPLE                 | unset: people shown by login name (`kari=Kari Nordmann,…`) |
| BOOKKEEPER_COMPANY_NAME           | unset: the books' company name (SAF-T header)    |
| BOOKKEEPER_COMPANY_ORGNR          | unset: the books' organisation number (9 digits) |
| BOOKKEEPER_COMPANY_CONTACT        | unset: the exporting user (SAF-T contact person) |
| BOOKKEEPER_MORNING                | on (off: no morning check in this process)       |
| BOOKKEEPER_MORNING_AT             | 07:00 (HH:MM, Europe/Oslo: when the morning check runs) |
| BOOKKEEPER_MORNING_CRON           | 0 7 * * * (cron, Europe/Oslo; supersedes _MORNING_AT) |
| BOOKKEEPER_MORNING_TENANTS        | unset: every tenant with events (comma list)     |
| BOOKKEEPER_DISCORD_MORNING_CHANNEL | unset: the summary is not posted to Discord (a channel id) |
| BOOKKEEPER_OIDC_CLIENT_ID         | unset: the web page (/app) logs in by pasted token only |
| BOOKKEEPER_OIDC_CLIENT_SECRET     | unset: a public client (PKCE only)               |
| BOOKKEEPER_WEB_SECRET             | unset: <data dir>/web-secret (made on first use) |
| BOOKKEEPER_ANTHROPIC_ADMIN_KEY    | unset: no Anthropic cost source (an Admin key) |
| BOOKKEEPER_ANTHROPIC_ADMIN_BASE_URL | https://api.anthropic.com                      |
| BOOKKEEPER_GOOGLE_BILLING_KEY_FILE | unset: no Google cost source (service-account key) |
| BOOKKEEPER_GOOGLE_BILLING_TABLE   | (required with a key file: project.dataset.table) |
| BOOKKEEPER_GOOGLE_BILLING_PROJECT | the key's project_id (the project the query job runs in) |
| BOOKKEEPER_GOOGLE_BILLING_SERVICES | Vertex AI,Gemini API,Generative Language API    |
| BOOKKEEPER_GOOGLE_BILLING_LOCATION | unset: the dataset's (e.g. EU, US)              |
| BOOKKEEPER_GOOGLE_BIGQUERY_URL    | https://bigquery.googleapis.com/bigquery/v2      |
| BOOKKEEPER_CLOUDFLARE_TOKEN       | unset: no Cloudflare cost source (Account Analytics Read) |
| BOOKKEEPER_CLOUDFLARE_ACCOUNT     | (required with a Cloudflare token: the account id) |
| BOOKKEEPER_CLOUDFLARE_BASE_URL    | https://api.cloudflare.com/client/v4             |
| BOOKKEEPER_NORGES_BANK_URL        | deprecated alias: BOOKKEEPER_EXCHANGE_RATES=<url> |
| BOOKKEEPER_EXCHANGE_RATES         | unset: documents unconverted (off, norges-bank, URL) |
| BOOKKEEPER_COSTS_TENANTS          | unset: the providers' costs are every tenant's (comma list) |

BOOKKEEPER_DISCORD_USERS maps Discord users to principals of the Discord tenant, as
`discordUserId=subject:role+role,…`, e.g. `112233=kari:reviewer,445566=ola:accountant+admin`.
A Discord user not in the map may still post documents and questions, as an agent-role
principal `discord:<id>`, but may not approve or reject.

An empty variable counts as unset, so `FOO=` in a compose file means "the default".
"""

from __future__ import annotations

import ipaddress
import logging
import os
import re
import urllib.parse
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Final, TypedDict
from zoneinfo import ZoneInfo

import msgspec
from limits import parse_many

from bookkeeper.adapters.cron import CronSchedule, InvalidCronExpression

PREFIX: Final = "BOOKKEEPER_"
LOG_LEVELS: Final = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
DATABASE_SCHEMES: Final = ("sqlite", "postgresql", "postgres")
#: The time zone of the morning run's time (BOOKKEEPER_MORNING_CRON / _MORNING_AT).
OSLO: Final = ZoneInfo("Europe/Oslo")


#: The most BOOKKEEPER_JWT_MAX_LIFETIME_HOURS / _OIDC_MAX_LIFETIME_HOURS may allow: a year.
MAX_TOKEN_LIFETIME_HOURS: Final = 24 * 366


class SettingsError(ValueError):
    """A BOOKKEEPER_* variable has a value that cannot be used; the message names it."""


class Settings(msgspec.Struct, frozen=True, kw_only=True):
    """Everything the process is configured with; built once, passed to the container."""

    data_dir: Path
    database_url: str
    jwt_private_key_file: Path
    jwt_issuer: str = "bookkeeper-local"
    jwt_audience: str = "bookkeeper"
    #: The longest lifetime (exp − iat) of a token of the local key, in hours; `bookkeeper
    #: token` mints none longer.
    jwt_max_lifetime_hours: int = 24
    oidc_issuer: str | None = None
    oidc_audience: str | None = None
    oidc_jwks_url: str | None = None
    jwt_algorithms: tuple[str, ...] = ("RS256", "ES256", "EdDSA")
    oidc_tenant_claim: str = "tenant"
    oidc_roles_claim: str = "roles"
    #: The longest lifetime (exp − iat) of an OIDC issuer's token, in hours (30 days).
    oidc_max_lifetime_hours: int = 720
    host: str = "127.0.0.1"
    port: int = 8000
    log_level: str = "INFO"
    #: "json", "text", or None: text when stderr is a terminal, JSON otherwise (logs.py).
    log_format: str | None = None
    db_pool_size: int = 20
    db_max_overflow: int = 50
    #: New proposals' writes in flight per process on PostgreSQL, the others batched
    #: behind them (ADR 0053); 0 writes each alone.
    db_group_writers: int = 2
    fiken_token: str | None = None
    fiken_company: str | None = None
    fiken_base_url: str = "https://api.fiken.no/api/v2"
    folio_token: str | None = None
    folio_base_url: str = "https://api.folio.no/v2"
    anthropic_api_key: str | None = None
    anthropic_base_url: str | None = None
    anthropic_model: str = "claude-haiku-4-5"
    executor_enabled: bool = True
    executor_interval_seconds: int = 5
    executor_max_attempts: int = 6
    #: How long outages are retried, from the first failed attempt (0: they count against
    #: executor_max_attempts, as before the ADR 0009 addendum).
    executor_give_up_hours: int = 24
    executor_tenant_concurrency: int = 8
    payment_account: str | None = None
    rate_limit: str = "600/minute"
    rate_limit_writes: str = "120/minute"
    #: Login attempts on the web page per client address (ADR 0040 §5).
    rate_limit_login: str = "10/minute"
    cors_origins: tuple[str, ...] = ()
    fetch_allowed_hosts: tuple[str, ...] = ("cdn.discordapp.com", "media.discordapp.net")
    policy_reload_seconds: int = 5
    discord_token: str | None = None
    discord_tenant: str | None = None
    discord_invoices_channel: int | None = None
    discord_review_channel: int | None = None
    #: `discordUserId=subject:role+role` entries (bookkeeper.adapters.discord.parse_users).
    discord_users: tuple[str, ...] = ()
    #: `subject=Name` entries: what people are called where people read (Discord, the
    #: chat, the web page; application/people.py). Events keep the principal.
    people: tuple[str, ...] = ()
    #: The company in a SAF-T file's header; unset: what the books say.
    company_name: str | None = None
    company_orgnr: str | None = None
    company_contact: str | None = None
    #: Faults and shutdown (ADR 0021).
    db_pool_recycle_seconds: int = 300
    shutdown_grace_seconds: int = 10
    #: How long a claimed attempt is held without a heartbeat (ADR 0026).
    executor_lease_seconds: int = 30
    #: The first back-off after a failed attempt (doubling up to an hour).
    executor_retry_seconds: int = 30
    #: The morning check (application/morning.py): on/off, when (Norway), for whom. Off
    #: in `for_data_dir` settings (tests, tools) unless asked for, so that they do not
    #: find a morning run in their log.
    morning_enabled: bool = True
    morning_hour: int = 7
    morning_minute: int = 0
    #: A cron expression (five fields, Europe/Oslo) for the morning run; None: every day
    #: at morning_hour:morning_minute (BOOKKEEPER_MORNING_AT, which it supersedes).
    morning_cron: str | None = None
    morning_tenants: tuple[str, ...] = ()
    discord_morning_channel: int | None = None
    #: The web page (entrypoints/web, ADR 0027): the OIDC client it logs people in as
    #: (authorization code + PKCE against `oidc_issuer`), and the secret its CSRF tokens
    #: are keyed with (shared by every replica; unset: a file in the data dir).
    oidc_client_id: str | None = None
    oidc_client_secret: str | None = None
    web_secret: str | None = None
    #: Shared rate-limit counters for N replicas (redis:// or rediss://); unset: in process.
    redis_url: str | None = None
    #: Where Fiken's one-at-a-time and 4/s are kept (ADR 0035): "auto" (the database on
    #: PostgreSQL, the process on SQLite), "process" or "database".
    fiken_gate: str = "auto"
    #: Spending sources (issue 11): each is absent without its credentials.
    anthropic_admin_key: str | None = None
    anthropic_admin_base_url: str | None = None
    google_billing_key_file: Path | None = None
    google_billing_table: str | None = None
    google_billing_project: str | None = None
    google_billing_services: tuple[str, ...] = ()
    google_billing_location: str | None = None
    google_bigquery_url: str | None = None
    cloudflare_token: str | None = None
    cloudflare_account: str | None = None
    cloudflare_base_url: str | None = None
    norges_bank_url: str | None = None
    costs_tenants: tuple[str, ...] = ()
    #: Issue 12: where foreign-currency documents get their NOK rate (Norges Bank's SDMX
    #: API: BOOKKEEPER_EXCHANGE_RATES=norges-bank, or its base URL); None: no conversion.
    exchange_rates_url: str | None = None
    #: Issue 14 (ADR 0036): the Fernet key(s) per-tenant credentials are encrypted with,
    #: comma-separated (the first encrypts, all decrypt); unset: none can be stored.
    credentials_key: str | None = None
    #: How stale another replica's view of a credentials change may be (seconds).
    credentials_recheck_seconds: int = 5
    #: The HTTP server `bookkeeper serve` runs the app in: uvicorn (default) or granian
    #: (BOOKKEEPER_SERVER; ADR 0039).
    server: str = "uvicorn"
    #: The lock file whose holder runs the serve's shared scheduled jobs (issue 14, P7:
    #: one worker of `bookkeeper serve --workers N` runs them, another takes over if it
    #: dies; BOOKKEEPER_JOBS_LOCK, set by the server for its workers). None: this process
    #: runs them itself.
    jobs_lock: Path | None = None
    #: Seconds a worker of `bookkeeper serve --workers N` has to answer the supervisor's
    #: health check before it is taken for hung and replaced (uvicorn's
    #: timeout_worker_healthcheck; BOOKKEEPER_WORKER_HEALTH_TIMEOUT_SECONDS).
    worker_health_timeout_seconds: int = 5

    def __repr__(self) -> str:
        # Tokens never reach a log line or a traceback through repr().
        hidden = {"fiken_token", "folio_token", "anthropic_api_key", "discord_token"}
        hidden |= {"oidc_client_secret", "web_secret"}
        hidden.add("redis_url")  # may carry a password
        hidden |= {"anthropic_admin_key", "cloudflare_token"}
        hidden.add("credentials_key")  # issue 14: the key of every tenant's credentials
        fields = ", ".join(
            f"{name}={'***' if name in hidden and getattr(self, name) else getattr(self, name)!r}"
            for name in self.__struct_fields__
        )
        return f"Settings({fields})"

    @property
    def morning_schedule(self) -> str:
        """The morning run's cron expression: BOOKKEEPER_MORNING_CRON, else every day at
        BOOKKEEPER_MORNING_AT."""
        return self.morning_cron or f"{self.morning_minute} {self.morning_hour} * * *"

    @property
    def database_is_embedded_sqlite(self) -> bool:
        """True for the embedded default (a SQLite file), which the app migrates itself."""
        return self.database_url.startswith("sqlite")

    @classmethod
    def for_data_dir(cls, data_dir: Path, **overrides: object) -> Settings:
        """Defaults derived from one data directory (handy for tests and tools)."""
        data_dir = data_dir.expanduser().absolute()
        fields: dict[str, object] = {
            "data_dir": data_dir,
            "database_url": sqlite_url(data_dir / "bookkeeper.db"),
            "jwt_private_key_file": data_dir / "jwt-signing-key.pem",
            "morning_enabled": False,
        }
        fields.update(overrides)
        return cls(**fields)  # type: ignore[arg-type]


def sqlite_url(path: Path) -> str:
    """The SQLAlchemy URL of a SQLite file (four slashes for an absolute path)."""
    return f"sqlite:///{path}"


def default_data_dir(environ: Mapping[str, str]) -> Path:
    """$XDG_DATA_HOME/bookkeeper, or ~/.local/share/bookkeeper (XDG base directory spec)."""
    xdg = environ.get("XDG_DATA_HOME", "")
    # The spec says a relative XDG_DATA_HOME is invalid and must be ignored.
    if xdg and Path(xdg).is_absolute():
        return Path(xdg) / "bookkeeper"
    home = environ.get("HOME") or str(Path.home())
    return Path(home) / ".local" / "share" / "bookkeeper"


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Read the settings from the environment (os.environ unless given); SettingsError if bad."""
    env = os.environ if environ is None else environ

    def get(name: str) -> str | None:
        value = env.get(PREFIX + name, "").strip()
        return value or None

    data_dir_raw = get("DATA_DIR")
    data_dir = (
        _path("DATA_DIR", data_dir_raw) if data_dir_raw is not None else default_data_dir(env)
    )
    key_raw = get("JWT_PRIVATE_KEY_FILE")
    key_file = (
        _path("JWT_PRIVATE_KEY_FILE", key_raw)
        if key_raw is not None
        else data_dir / "jwt-signing-key.pem"
    )
    database_url = get("DATABASE_URL") or sqlite_url(data_dir / "bookkeeper.db")
    scheme = database_url.split(":", 1)[0].split("+", 1)[0].lower()
    if scheme not in DATABASE_SCHEMES or "://" not in database_url:
        raise SettingsError(
            f"{PREFIX}DATABASE_URL must be a sqlite:/// or postgresql:// URL, "
            f"not one with scheme {scheme!r}"
        )
    if scheme != "sqlite":
        _check_server_url(database_url)
    fiken_token, fiken_company = get("FIKEN_TOKEN"), get("FIKEN_COMPANY")
    if fiken_token is not None and fiken_company is None:
        raise SettingsError(
            f"{PREFIX}FIKEN_COMPANY (the company slug) is required with {PREFIX}FIKEN_TOKEN"
        )
    log_level = (get("LOG_LEVEL") or "INFO").upper()
    if log_level not in LOG_LEVELS:
        raise SettingsError(f"{PREFIX}LOG_LEVEL must be one of {', '.join(LOG_LEVELS)}")
    return Settings(
        data_dir=data_dir,
        database_url=database_url,
        jwt_private_key_file=key_file,
        jwt_issuer=get("JWT_ISSUER") or "bookkeeper-local",
        jwt_audience=get("JWT_AUDIENCE") or "bookkeeper",
        jwt_max_lifetime_hours=_integer(
            "JWT_MAX_LIFETIME_HOURS",
            get("JWT_MAX_LIFETIME_HOURS"),
            default=24,
            low=1,
            high=MAX_TOKEN_LIFETIME_HOURS,
        ),
        **_oidc(get),
        host=get("HOST") or "127.0.0.1",
        port=_integer("PORT", get("PORT"), default=8000, low=1, high=65535),
        log_level=log_level,
        log_format=_log_format(get("LOG_FORMAT")),
        db_pool_size=_integer("DB_POOL_SIZE", get("DB_POOL_SIZE"), default=20, low=1, high=1000),
        db_group_writers=_integer(
            "DB_GROUP_WRITERS", get("DB_GROUP_WRITERS"), default=2, low=0, high=64
        ),
        db_max_overflow=_integer(
            "DB_MAX_OVERFLOW", get("DB_MAX_OVERFLOW"), default=50, low=0, high=1000
        ),
        fiken_token=fiken_token,
        fiken_company=fiken_company,
        fiken_base_url=_base_url("FIKEN_BASE_URL", get("FIKEN_BASE_URL"))
        or "https://api.fiken.no/api/v2",
        folio_token=get("FOLIO_TOKEN"),
        folio_base_url=_base_url("FOLIO_BASE_URL", get("FOLIO_BASE_URL"))
        or "https://api.folio.no/v2",
        anthropic_api_key=get("ANTHROPIC_API_KEY"),
        anthropic_base_url=_base_url("ANTHROPIC_BASE_URL", get("ANTHROPIC_BASE_URL")),
        anthropic_model=get("ANTHROPIC_MODEL") or "claude-haiku-4-5",
        executor_enabled=_switch("EXECUTOR", get("EXECUTOR"), default=True),
        executor_interval_seconds=_integer(
            "EXECUTOR_INTERVAL", get("EXECUTOR_INTERVAL"), default=5, low=1, high=3600
        ),
        executor_max_attempts=_integer(
            "EXECUTOR_MAX_ATTEMPTS", get("EXECUTOR_MAX_ATTEMPTS"), default=6, low=1, high=100
        ),
        executor_give_up_hours=_integer(
            "EXECUTOR_GIVE_UP_HOURS", get("EXECUTOR_GIVE_UP_HOURS"), default=24, low=0, high=720
        ),
        executor_tenant_concurrency=_integer(
            "EXECUTOR_TENANTS", get("EXECUTOR_TENANTS"), default=8, low=1, high=256
        ),
        payment_account=get("PAYMENT_ACCOUNT"),
        **_edge(get),
        policy_reload_seconds=_integer(
            "POLICY_RELOAD_SECONDS", get("POLICY_RELOAD_SECONDS"), default=5, low=0, high=3600
        ),
        **_discord(get),
        people=_people(get("PEOPLE")),
        company_name=get("COMPANY_NAME"),
        company_orgnr=_orgnr(get("COMPANY_ORGNR")),
        company_contact=get("COMPANY_CONTACT"),
        db_pool_recycle_seconds=_integer(
            "DB_POOL_RECYCLE_SECONDS",
            get("DB_POOL_RECYCLE_SECONDS"),
            default=300,
            low=1,
            high=86400,
        ),
        shutdown_grace_seconds=_integer(
            "SHUTDOWN_GRACE_SECONDS", get("SHUTDOWN_GRACE_SECONDS"), default=10, low=0, high=600
        ),
        executor_lease_seconds=_integer(
            "EXECUTOR_LEASE_SECONDS", get("EXECUTOR_LEASE_SECONDS"), default=30, low=3, high=3600
        ),
        executor_retry_seconds=_integer(
            "EXECUTOR_RETRY_SECONDS", get("EXECUTOR_RETRY_SECONDS"), default=30, low=1, high=3600
        ),
        **_morning(get),
        oidc_client_id=get("OIDC_CLIENT_ID"),
        oidc_client_secret=get("OIDC_CLIENT_SECRET"),
        web_secret=_web_secret(get("WEB_SECRET")),
        redis_url=_redis_url(get("REDIS_URL")),
        fiken_gate=_fiken_gate(get("FIKEN_GATE"), on_postgres=scheme != "sqlite"),
        **_spending(get),
        exchange_rates_url=_exchange_rates_setting(get),
        credentials_key=get("CREDENTIALS_KEY"),
        credentials_recheck_seconds=_integer(
            "CREDENTIALS_RECHECK_SECONDS",
            get("CREDENTIALS_RECHECK_SECONDS"),
            default=5,
            low=0,
            high=3600,
        ),
        server=_server(get("SERVER")),
        jobs_lock=_path("JOBS_LOCK", raw) if (raw := get("JOBS_LOCK")) is not None else None,
        worker_health_timeout_seconds=_integer(
            "WORKER_HEALTH_TIMEOUT_SECONDS",
            get("WORKER_HEALTH_TIMEOUT_SECONDS"),
            default=5,
            low=1,
            high=600,
        ),
    )


def _exchange_rates_setting(get: Callable[[str], str | None]) -> str | None:
    """BOOKKEEPER_EXCHANGE_RATES, the one setting of the exchange-rate source (ADR 0040
    §7); BOOKKEEPER_NORGES_BANK_URL, its older name for the same API's base URL, still
    works when it is unset, with a deprecation line in the log."""
    alias = get("NORGES_BANK_URL")
    if alias is not None:
        logging.getLogger(__name__).warning(
            "%sNORGES_BANK_URL is deprecated: set %sEXCHANGE_RATES=%s instead",
            PREFIX,
            PREFIX,
            alias,
        )
        if get("EXCHANGE_RATES") is None:
            return _base_url("NORGES_BANK_URL", alias)
    return _exchange_rates(get("EXCHANGE_RATES"))


#: The servers `bookkeeper serve` can run the app in (BOOKKEEPER_SERVER).
SERVERS: Final = ("uvicorn", "granian")


def _server(raw: str | None) -> str:
    """uvicorn (unset) or granian."""
    value = (raw or "uvicorn").strip().lower()
    if value not in SERVERS:
        raise SettingsError(f"{PREFIX}SERVER must be one of {', '.join(SERVERS)}, not {raw!r}")
    return value


#: The shortest BOOKKEEPER_WEB_SECRET taken: what `secrets.token_urlsafe(24)` gives (the
#: secret made on first use has 32 bytes of randomness).
WEB_SECRET_MIN: Final = 32


def _web_secret(raw: str | None) -> str | None:
    """The key of the web page's CSRF tokens, when set: at least WEB_SECRET_MIN characters.
    A short one ("secret", a word) lets anyone who guesses it forge a form's token; it was
    taken as it was. Unset or empty: the data directory's own (session.web_secret)."""
    if not raw:
        return None
    if len(raw) < WEB_SECRET_MIN:
        raise SettingsError(
            f"{PREFIX}WEB_SECRET must be at least {WEB_SECRET_MIN} characters (it keys the "
            "web page's CSRF tokens), e.g. python3 -c 'import secrets; "
            "print(secrets.token_urlsafe(32))'; unset, one is made in the data directory"
        )
    return raw


def _redis_url(raw: str | None) -> str | None:
    """redis://, rediss:// or unix:// (the limits library's Redis storage), or None."""
    if raw is None:
        return None
    if raw.split("://", 1)[0].lower() not in ("redis", "rediss", "unix") or "://" not in raw:
        raise SettingsError(f"{PREFIX}REDIS_URL must be a redis://, rediss:// or unix:// URL")
    try:
        urllib.parse.urlsplit(raw).port  # noqa: B018 (raises on a port that is no number)
    except ValueError:
        # The limits library refused it at serve's app start with a traceback that
        # printed the URL, password and all. Never repeated here.
        raise SettingsError(
            f"{PREFIX}REDIS_URL's port must be a number from 1 to 65535 (percent-encode @ : / "
            "in the password)"
        ) from None
    return raw


def _fiken_gate(raw: str | None, *, on_postgres: bool) -> str:
    """auto, process or database (ADR 0035); database only on PostgreSQL (refused at start,
    not when `serve`'s first request builds the backends)."""
    value = (raw or "auto").strip().lower()
    if value not in ("auto", "process", "database"):
        raise SettingsError(f"{PREFIX}FIKEN_GATE must be auto, process or database")
    if value == "database" and not on_postgres:
        raise SettingsError(f"{PREFIX}FIKEN_GATE=database needs a PostgreSQL database")
    return value


#: Norges Bank's SDMX API (adapters/norges_bank.BASE_URL), for BOOKKEEPER_EXCHANGE_RATES.
NORGES_BANK_URL: Final = "https://data.norges-bank.no/api"


def _exchange_rates(raw: str | None) -> str | None:
    """BOOKKEEPER_EXCHANGE_RATES: unset or off (no conversion), norges-bank, or a base URL
    of the same API (a mirror, a test double)."""
    value = (raw or "").strip()
    if not value or value.lower() == "off":
        return None
    if value.lower() == "norges-bank":
        return NORGES_BANK_URL
    if not value.startswith(("http://", "https://")):
        raise SettingsError(f"{PREFIX}EXCHANGE_RATES must be off, norges-bank or a URL")
    return value


def _log_format(raw: str | None) -> str | None:
    """json or text; unset (None) chooses by whether stderr is a terminal."""
    if raw is None or not raw.strip():
        return None
    value = raw.strip().lower()
    if value not in ("json", "text"):
        raise SettingsError(f"{PREFIX}LOG_FORMAT must be json or text, not {raw!r}")
    return value


def _orgnr(raw: str | None) -> str | None:
    """A Norwegian organisation number: 9 digits with a valid MOD11 check digit (spaces
    allowed, dropped; checked by python-stdnum)."""
    if raw is None:
        return None
    from stdnum.exceptions import ValidationError
    from stdnum.no import orgnr

    try:
        return str(orgnr.validate(raw))
    except ValidationError:
        raise SettingsError(
            f"{PREFIX}COMPANY_ORGNR must be a Norwegian organisation number (9 digits, valid "
            f"check digit), not {raw!r}"
        ) from None


#: Asymmetric JWS algorithms an external issuer may sign with; never `none` or HS*: a
#: shared secret cannot come from a public JWKS, and HS* keyed with a public key is forgeable.
JWT_ALGORITHMS: Final = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
)


class _OidcFields(TypedDict, total=False):
    oidc_issuer: str | None
    oidc_audience: str | None
    oidc_jwks_url: str | None
    jwt_algorithms: tuple[str, ...]
    oidc_tenant_claim: str
    oidc_roles_claim: str
    oidc_max_lifetime_hours: int


def _oidc(get: Callable[[str], str | None]) -> _OidcFields:
    """The OIDC fields: issuer and JWKS URLs (https, or http to a loopback host only, for
    tests and a local IdP), algorithms, and the claims that carry tenant and roles."""
    issuer = _oidc_url("OIDC_ISSUER", get("OIDC_ISSUER"))
    jwks_url = _oidc_url("OIDC_JWKS_URL", get("OIDC_JWKS_URL"))
    if issuer is None and (jwks_url is not None or get("OIDC_AUDIENCE") is not None):
        raise SettingsError(f"{PREFIX}OIDC_ISSUER is required with the other OIDC settings")
    fields: _OidcFields = {
        "oidc_issuer": issuer,
        "oidc_audience": get("OIDC_AUDIENCE"),
        "oidc_jwks_url": jwks_url,
        "oidc_tenant_claim": _claim_name("OIDC_TENANT_CLAIM", get("OIDC_TENANT_CLAIM")) or "tenant",
        "oidc_roles_claim": _claim_name("OIDC_ROLES_CLAIM", get("OIDC_ROLES_CLAIM")) or "roles",
        "oidc_max_lifetime_hours": _integer(
            "OIDC_MAX_LIFETIME_HOURS",
            get("OIDC_MAX_LIFETIME_HOURS"),
            default=720,
            low=1,
            high=MAX_TOKEN_LIFETIME_HOURS,
        ),
    }
    raw = get("JWT_ALGORITHMS")
    if raw is not None:
        names = tuple(dict.fromkeys(name.strip() for name in raw.split(",") if name.strip()))
        refused = [name for name in names if name not in JWT_ALGORITHMS]
        if not names or refused:
            raise SettingsError(
                f"{PREFIX}JWT_ALGORITHMS must list asymmetric algorithms among "
                f"{', '.join(sorted(JWT_ALGORITHMS))}; refused: {', '.join(refused) or 'empty'}"
            )
        fields["jwt_algorithms"] = names
    return fields


def _oidc_url(name: str, raw: str | None) -> str | None:
    if raw is None:
        return None
    parts = urllib.parse.urlsplit(raw)
    secure = parts.scheme == "https" or (parts.scheme == "http" and _is_loopback(parts.hostname))
    if (
        not secure
        or not parts.hostname
        or parts.username is not None
        or parts.fragment
        or any(ch.isspace() for ch in raw)
    ):
        raise SettingsError(
            f"{PREFIX}{name} must be an https:// URL (http:// only to a loopback host)"
        )
    return raw


def _is_loopback(host: str | None) -> bool:
    if host is None:
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _claim_name(name: str, raw: str | None) -> str | None:
    if raw is not None and (len(raw) > 200 or not raw.isprintable() or " " in raw):
        raise SettingsError(f"{PREFIX}{name} must be a claim name or a dotted path to one")
    return raw


class _EdgeFields(TypedDict, total=False):
    rate_limit: str
    rate_limit_writes: str
    rate_limit_login: str
    cors_origins: tuple[str, ...]
    fetch_allowed_hosts: tuple[str, ...]


_ORIGIN: Final = re.compile(r"https?://[a-z0-9]([a-z0-9.-]*[a-z0-9])?(:[0-9]{1,5})?\Z")
_HOST_NAME: Final = re.compile(
    r"(?=.{1,253}\Z)(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z](?:[a-z0-9-]{0,61}[a-z0-9])?\Z"
)


def _edge(get: Callable[[str], str | None]) -> _EdgeFields:
    """Rate limits, the CORS allow-list (closed when unset; `*` is refused: list origins)
    and the hosts the document fetcher may fetch from (DNS names, never addresses)."""
    fields: _EdgeFields = {}
    if (limit := _rate_limit("RATE_LIMIT", get("RATE_LIMIT"))) is not None:
        fields["rate_limit"] = limit
    if (limit := _rate_limit("RATE_LIMIT_WRITES", get("RATE_LIMIT_WRITES"))) is not None:
        fields["rate_limit_writes"] = limit
    if (limit := _rate_limit("RATE_LIMIT_LOGIN", get("RATE_LIMIT_LOGIN"))) is not None:
        fields["rate_limit_login"] = limit
    origins = _comma_list(get("CORS_ORIGINS"))
    bad = [origin for origin in origins or () if not _ORIGIN.match(origin)]
    if bad:
        raise SettingsError(
            f"{PREFIX}CORS_ORIGINS must list origins like https://app.example.com "
            f"(no path, no *), got {', '.join(bad)}"
        )
    if origins is not None:
        fields["cors_origins"] = origins
    hosts = _comma_list(get("FETCH_ALLOWED_HOSTS"))
    bad = [host for host in hosts or () if not _HOST_NAME.match(host)]
    if bad:
        raise SettingsError(
            f"{PREFIX}FETCH_ALLOWED_HOSTS must list DNS host names (no addresses, ports or "
            f"wildcards), got {', '.join(bad)}"
        )
    if hosts is not None:
        fields["fetch_allowed_hosts"] = hosts
    return fields


def _rate_limit(name: str, raw: str | None) -> str | None:
    if raw is None or raw.lower() == "off":
        return None if raw is None else "off"
    try:
        items = parse_many(raw)
    except ValueError:
        raise SettingsError(
            f"{PREFIX}{name} must be like 600/minute (several: 10/second;600/minute) "
            f"or off, got {raw!r}"
        ) from None
    if any(item.amount < 1 for item in items):
        # 0/minute was taken, and refused every request it counts (429 for ever).
        raise SettingsError(f"{PREFIX}{name} must allow at least 1 per period (off: no limit)")
    return raw


def _comma_list(raw: str | None) -> tuple[str, ...] | None:
    if raw is None:
        return None
    return tuple(dict.fromkeys(item.strip().lower() for item in raw.split(",") if item.strip()))


def _base_url(name: str, raw: str | None) -> str | None:
    if raw is None:
        return None
    if not raw.startswith(("https://", "http://")) or any(ch.isspace() for ch in raw):
        raise SettingsError(f"{PREFIX}{name} must be an http(s):// URL")
    return raw.rstrip("/")


def _switch(name: str, raw: str | None, *, default: bool) -> bool:
    if raw is None:
        return default
    value = raw.lower()
    if value in ("1", "true", "on", "yes"):
        return True
    if value in ("0", "false", "off", "no"):
        return False
    raise SettingsError(f"{PREFIX}{name} must be on or off, got {raw!r}")


def _check_server_url(url: str) -> None:
    """A PostgreSQL URL as SQLAlchemy reads it: a port that is a number (a URL it cannot read
    reached the operator as "failed unexpectedly") and one host; an unencoded `@` in the
    password made the rest of the password the host, which the connection error then
    printed. The message never repeats the URL, which may hold a password."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    encode = "percent-encode @ : / ? # in the user name and password (@ is %40)"
    try:
        parsed = make_url(url)
        port = parsed.port
    except (ArgumentError, ValueError):
        raise SettingsError(
            f"{PREFIX}DATABASE_URL is not a URL that can be read: the port must be a number, "
            f"and {encode}"
        ) from None
    if "@" in (parsed.host or ""):
        raise SettingsError(f"{PREFIX}DATABASE_URL has more than one @: {encode}")
    if port is not None and not 1 <= port <= 65535:
        raise SettingsError(f"{PREFIX}DATABASE_URL's port must be between 1 and 65535")


def _path(name: str, raw: str) -> Path:
    if "\x00" in raw:
        raise SettingsError(f"{PREFIX}{name} must be a file system path")
    # A relative path is taken from the working directory at start, once.
    return Path(raw).expanduser().absolute()


def _integer(name: str, raw: str | None, *, default: int, low: int, high: int) -> int:
    if raw is None:
        return default
    try:
        value = int(raw, 10)
    except ValueError:
        raise SettingsError(f"{PREFIX}{name} must be a whole number, got {raw!r}") from None
    if not low <= value <= high:
        raise SettingsError(f"{PREFIX}{name} must be between {low} and {high}, got {value}")
    return value


def _people(raw: str | None) -> tuple[str, ...]:
    """BOOKKEEPER_PEOPLE: `subject=Name` entries, comma separated."""
    from bookkeeper.application.people import parse_people

    entries = tuple(entry.strip() for entry in (raw or "").split(",") if entry.strip())
    try:
        parse_people(entries)
    except ValueError as error:
        raise SettingsError(f"{PREFIX}PEOPLE must list subject=Name entries: {error}") from None
    return entries


class _DiscordFields(TypedDict, total=False):
    discord_token: str
    discord_tenant: str
    discord_invoices_channel: int
    discord_review_channel: int
    discord_users: tuple[str, ...]


_DISCORD_USER: Final = re.compile(r"[0-9]{1,20}=[^:=,\s]+:[a-z][a-z_-]*(\+[a-z][a-z_-]*)*")


def _discord(get: Callable[[str], str | None]) -> _DiscordFields:
    """The Discord bot: token, tenant, channel ids (snowflakes) and the user map."""
    fields: _DiscordFields = {}
    token, tenant = get("DISCORD_TOKEN"), get("DISCORD_TENANT")
    if token is not None:
        if tenant is None:
            raise SettingsError(
                f"{PREFIX}DISCORD_TENANT (the tenant the bot serves) is required with "
                f"{PREFIX}DISCORD_TOKEN"
            )
        fields["discord_token"] = token
    if tenant is not None:
        fields["discord_tenant"] = tenant
    for name, key in (
        ("DISCORD_INVOICES_CHANNEL", "discord_invoices_channel"),
        ("DISCORD_REVIEW_CHANNEL", "discord_review_channel"),
    ):
        raw = get(name)
        if raw is not None:
            if not raw.isascii() or not raw.isdigit() or len(raw) > 20:
                raise SettingsError(f"{PREFIX}{name} must be a Discord channel id (digits)")
            fields[key] = int(raw)  # type: ignore[literal-required]
    raw_users = get("DISCORD_USERS") or ""
    users = tuple(entry.strip() for entry in raw_users.split(",") if entry.strip())
    if users:
        bad = [entry for entry in users if not _DISCORD_USER.fullmatch(entry)]
        if bad:
            raise SettingsError(
                f"{PREFIX}DISCORD_USERS must list discordUserId=subject:role+role entries, "
                f"not {bad[0]!r}"
            )
        fields["discord_users"] = users
    return fields


class _MorningFields(TypedDict, total=False):
    morning_enabled: bool
    morning_hour: int
    morning_minute: int
    morning_cron: str
    morning_tenants: tuple[str, ...]
    discord_morning_channel: int


_MORNING_AT: Final = re.compile(r"([01][0-9]|2[0-3]):([0-5][0-9])")


def _morning(get: Callable[[str], str | None]) -> _MorningFields:
    """The morning check: BOOKKEEPER_MORNING, _MORNING_CRON (or the older _MORNING_AT,
    HH:MM), _MORNING_TENANTS and the Discord channel its summary goes to."""
    fields: _MorningFields = {"morning_enabled": _switch("MORNING", get("MORNING"), default=True)}
    at = get("MORNING_AT")
    if at is not None:
        match = _MORNING_AT.fullmatch(at)
        if match is None:
            raise SettingsError(f"{PREFIX}MORNING_AT must be HH:MM (00:00–23:59), not {at!r}")
        fields["morning_hour"], fields["morning_minute"] = int(match[1]), int(match[2])
    cron = get("MORNING_CRON")
    if cron is not None:
        if at is not None:
            raise SettingsError(
                f"{PREFIX}MORNING_CRON supersedes {PREFIX}MORNING_AT: set one of them, not both"
            )
        try:
            fields["morning_cron"] = CronSchedule(cron, OSLO).expression
        except InvalidCronExpression as error:
            raise SettingsError(
                f"{PREFIX}MORNING_CRON must be a cron expression (minute hour day-of-month "
                f"month day-of-week, Europe/Oslo, e.g. '0 7 * * 1-5'): {error}"
            ) from None
    tenants = tuple(t.strip() for t in (get("MORNING_TENANTS") or "").split(",") if t.strip())
    if tenants:
        fields["morning_tenants"] = tenants
    channel = get("DISCORD_MORNING_CHANNEL")
    if channel is not None:
        if not channel.isascii() or not channel.isdigit() or len(channel) > 20:
            raise SettingsError(f"{PREFIX}DISCORD_MORNING_CHANNEL must be a channel id (digits)")
        fields["discord_morning_channel"] = int(channel)
    return fields


class _SpendingFields(TypedDict, total=False):
    anthropic_admin_key: str
    anthropic_admin_base_url: str
    google_billing_key_file: Path
    google_billing_table: str
    google_billing_project: str
    google_billing_services: tuple[str, ...]
    google_billing_location: str
    google_bigquery_url: str
    cloudflare_token: str
    cloudflare_account: str
    cloudflare_base_url: str
    norges_bank_url: str
    costs_tenants: tuple[str, ...]


def _spending(get: Callable[[str], str | None]) -> _SpendingFields:
    """The cost sources' credentials (each source is absent without them) and endpoints."""
    fields: _SpendingFields = {}
    key_file = get("GOOGLE_BILLING_KEY_FILE")
    table = get("GOOGLE_BILLING_TABLE")
    if key_file is not None:
        if table is None:
            raise SettingsError(
                f"{PREFIX}GOOGLE_BILLING_TABLE (project.dataset.table of the billing export) "
                f"is required with {PREFIX}GOOGLE_BILLING_KEY_FILE"
            )
        fields["google_billing_key_file"] = _path("GOOGLE_BILLING_KEY_FILE", key_file)
    if table is not None:
        if not re.fullmatch(r"[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+){1,2}", table):
            raise SettingsError(f"{PREFIX}GOOGLE_BILLING_TABLE must be project.dataset.table")
        fields["google_billing_table"] = table
    token, account = get("CLOUDFLARE_TOKEN"), get("CLOUDFLARE_ACCOUNT")
    if token is not None:
        if account is None or not re.fullmatch(r"[0-9a-f]{32}", account):
            raise SettingsError(
                f"{PREFIX}CLOUDFLARE_ACCOUNT (32 hex digits) is required with "
                f"{PREFIX}CLOUDFLARE_TOKEN"
            )
        fields["cloudflare_token"], fields["cloudflare_account"] = token, account
    for name, key in (
        ("ANTHROPIC_ADMIN_KEY", "anthropic_admin_key"),
        ("GOOGLE_BILLING_PROJECT", "google_billing_project"),
        ("GOOGLE_BILLING_LOCATION", "google_billing_location"),
    ):
        value = get(name)
        if value is not None:
            fields[key] = value  # type: ignore[literal-required]
    for name, key in (
        ("ANTHROPIC_ADMIN_BASE_URL", "anthropic_admin_base_url"),
        ("GOOGLE_BIGQUERY_URL", "google_bigquery_url"),
        ("CLOUDFLARE_BASE_URL", "cloudflare_base_url"),
        ("NORGES_BANK_URL", "norges_bank_url"),
    ):
        url = _base_url(name, get(name))
        if url is not None:
            fields[key] = url  # type: ignore[literal-required]
    for name, key in (
        ("GOOGLE_BILLING_SERVICES", "google_billing_services"),
        ("COSTS_TENANTS", "costs_tenants"),
    ):
        items = tuple(i.strip() for i in (get(name) or "").split(",") if i.strip())
        if items:
            fields[key] = items  # type: ignore[literal-required]
    return fields
