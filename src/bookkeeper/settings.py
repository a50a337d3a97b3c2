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
| BOOKKEEPER_HOST / BOOKKEEPER_PORT | 127.0.0.1 / 8000                                 |
| BOOKKEEPER_LOG_LEVEL              | INFO                                             |
| BOOKKEEPER_DB_POOL_SIZE           | 20                                               |
| BOOKKEEPER_DB_MAX_OVERFLOW        | 50                                               |
| BOOKKEEPER_FIKEN_TOKEN            | unset: the sandbox books in the local database   |
| BOOKKEEPER_FIKEN_COMPANY          | (required with a Fiken token: the company slug)  |
| BOOKKEEPER_FIKEN_BASE_URL         | https://api.fiken.no/api/v2                      |
| BOOKKEEPER_FOLIO_TOKEN            | unset: the sandbox bank in the local database    |
| BOOKKEEPER_FOLIO_BASE_URL         | https://api.folio.no/v2                          |
| BOOKKEEPER_EXECUTOR               | on (off: approved actions wait for another process) |
| BOOKKEEPER_EXECUTOR_INTERVAL      | 5 (seconds between polls for due work)           |
| BOOKKEEPER_EXECUTOR_MAX_ATTEMPTS  | 6                                                |
| BOOKKEEPER_EXECUTOR_TENANTS       | 8 (tenants executed at once; each one at a time) |
| BOOKKEEPER_PAYMENT_ACCOUNT        | unset: the books' first active bank account      |

An empty variable counts as unset, so `FOO=` in a compose file means "the default".
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Final

import msgspec

PREFIX: Final = "BOOKKEEPER_"
LOG_LEVELS: Final = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
DATABASE_SCHEMES: Final = ("sqlite", "postgresql", "postgres")


class SettingsError(ValueError):
    """A BOOKKEEPER_* variable has a value that cannot be used; the message names it."""


class Settings(msgspec.Struct, frozen=True, kw_only=True):
    """Everything the process is configured with; built once, passed to the container."""

    data_dir: Path
    database_url: str
    jwt_private_key_file: Path
    jwt_issuer: str = "bookkeeper-local"
    jwt_audience: str = "bookkeeper"
    host: str = "127.0.0.1"
    port: int = 8000
    log_level: str = "INFO"
    db_pool_size: int = 20
    db_max_overflow: int = 50
    fiken_token: str | None = None
    fiken_company: str | None = None
    fiken_base_url: str = "https://api.fiken.no/api/v2"
    folio_token: str | None = None
    folio_base_url: str = "https://api.folio.no/v2"
    executor_enabled: bool = True
    executor_interval_seconds: int = 5
    executor_max_attempts: int = 6
    executor_tenant_concurrency: int = 8
    payment_account: str | None = None

    def __repr__(self) -> str:
        # Tokens never reach a log line or a traceback through repr().
        hidden = {"fiken_token", "folio_token"}
        fields = ", ".join(
            f"{name}={'***' if name in hidden and getattr(self, name) else getattr(self, name)!r}"
            for name in self.__struct_fields__
        )
        return f"Settings({fields})"

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
        host=get("HOST") or "127.0.0.1",
        port=_integer("PORT", get("PORT"), default=8000, low=1, high=65535),
        log_level=log_level,
        db_pool_size=_integer("DB_POOL_SIZE", get("DB_POOL_SIZE"), default=20, low=1, high=1000),
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
        executor_enabled=_switch("EXECUTOR", get("EXECUTOR"), default=True),
        executor_interval_seconds=_integer(
            "EXECUTOR_INTERVAL", get("EXECUTOR_INTERVAL"), default=5, low=1, high=3600
        ),
        executor_max_attempts=_integer(
            "EXECUTOR_MAX_ATTEMPTS", get("EXECUTOR_MAX_ATTEMPTS"), default=6, low=1, high=100
        ),
        executor_tenant_concurrency=_integer(
            "EXECUTOR_TENANTS", get("EXECUTOR_TENANTS"), default=8, low=1, high=256
        ),
        payment_account=get("PAYMENT_ACCOUNT"),
    )


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
