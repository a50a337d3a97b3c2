"""The NATS settings, from BOOKKEEPER_NATS_* (no URL: no NATS, the in-process bus only).

    BOOKKEEPER_NATS_URL                 nats://host:4222 (unset: NATS off)
    BOOKKEEPER_NATS_STREAM              inbound stream            (default BOOKKEEPER_IN)
    BOOKKEEPER_NATS_SUBJECT_PREFIX      inbound subjects prefix   (default bookkeeper.in;
                                        the stream holds <prefix>.>, a translator's
                                        subject is relative to it)
    BOOKKEEPER_NATS_DURABLE             the durable consumer every replica shares
                                        (default bookkeeper-ledger)
    BOOKKEEPER_NATS_DEAD_LETTER_STREAM  (default BOOKKEEPER_DEAD_LETTER)
    BOOKKEEPER_NATS_DEAD_LETTER_SUBJECT (default bookkeeper.dead-letter)
    BOOKKEEPER_NATS_MAX_DELIVER         deliveries of a transiently failing message before
                                        it is dead-lettered (default 10)
    BOOKKEEPER_NATS_BATCH               messages fetched and booked per transaction
                                        (default 96, 1..4096)
    BOOKKEEPER_NATS_OUT_STREAM          the published ledger's stream (default BOOKKEEPER_OUT)
    BOOKKEEPER_NATS_OUT_SUBJECT_PREFIX  its subjects: <prefix>.<tenant>.<type>
                                        (default bookkeeper.ledger)
    BOOKKEEPER_NATS_ACCOUNTS_STREAM     the Accounts Master's stream (default
                                        BOOKKEEPER_ACCOUNTS)
    BOOKKEEPER_NATS_ACCOUNTS_SUBJECT_PREFIX  its subjects, <prefix>.> (AccountCreated /
                                        AccountUpdated; default bookkeeper.accounts)
    BOOKKEEPER_NATS_ACCOUNTS_DURABLE    its durable consumer (default bookkeeper-accounts)
    BOOKKEEPER_NATS_TENANT_SUBJECTS     on: inbound subjects are <prefix>.<tenant>.…, and a
                                        message whose envelope names another tenant than
                                        its subject is dead-lettered unbooked, so NATS
                                        publish permissions bind a publisher to its tenants
                                        (default off; ADR 0013 addendum)
    BOOKKEEPER_NATS_RECONNECT_ATTEMPTS  nats-py's own reconnects after a lost socket
                                        before the client is closed for good (default
                                        60, 0..100000; -1: for ever)
    BOOKKEEPER_NATS_RECONNECT_WAIT      seconds between two of them (default 2, 0.1..600)
    BOOKKEEPER_NATS_RECONNECT_BACKOFF_BASE  the first back-off (seconds) of a new connection
                                        once closed for good, doubling (default 0.5,
                                        0.1..600; a random half of it: jitter)
    BOOKKEEPER_NATS_RECONNECT_BACKOFF_MAX   the back-off's ceiling (default 30, at least
                                        the base, at most 3600)
    BOOKKEEPER_NATS_CONNECT_TIMEOUT     seconds one attempt to connect (and set up the
                                        streams) may take, the first at start included
                                        (default 10, 1..600)

Missing streams and the consumer are created on start.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import re
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Final

from bookkeeper.adapters.auth.claims import approval_limit
from bookkeeper.application.translation import BUS_TENANT, MAX_NAME, names_a_tenant
from bookkeeper.domain.tenants import ANY_TENANT, TENANT_RULE
from bookkeeper.settings import PREFIX, SettingsError

_NAME: Final = re.compile(r"[A-Za-z0-9_-]{1,64}")
_TOKEN: Final = re.compile(r"[A-Za-z0-9_-]+")
_NOT_IN_TOKEN: Final = re.compile(r"[^A-Za-z0-9_-]")
_SUBJECT: Final = re.compile(r"[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*")
MAX_DELIVER_LIMIT: Final = 1000
MAX_BATCH: Final = 4096
#: nats-py's reconnects after a lost socket at most (-1: for ever).
MAX_RECONNECT_ATTEMPTS: Final = 100_000


def subject_token(tenant: str) -> str:
    """The tenant as one NATS subject token, one token per tenant: a name of letters,
    digits, `_` and `-` as it is; any other name with those characters kept, the others
    `_`, and `~` and 12 hex digits of its SHA-256 after it — `~` is in no plain name, so
    `globex.no` (`globex_no~…`) never shares the subjects of a tenant called `globex_no`."""
    if _TOKEN.fullmatch(tenant):
        return tenant
    digest = hashlib.sha256(tenant.encode()).hexdigest()[:12]
    return f"{_NOT_IN_TOKEN.sub('_', tenant)}~{digest}"


def shown_url(url: str) -> str:
    """The server URL(s) as the log may show them: a user, password or token in a URL
    (nats://user:secret@host, nats://token@host) is replaced by ***."""
    return ",".join(
        re.sub(r"^([a-z][a-z0-9+.-]*://)[^/@]*@", r"\1***@", part.strip(), flags=re.I)
        for part in url.split(",")
    )


@dataclass(frozen=True)
class NatsSettings:
    url: str
    stream: str = "BOOKKEEPER_IN"
    subject_prefix: str = "bookkeeper.in"
    durable: str = "bookkeeper-ledger"
    dead_letter_stream: str = "BOOKKEEPER_DEAD_LETTER"
    dead_letter_subject: str = "bookkeeper.dead-letter"
    max_deliver: int = 10
    #: Seconds JetStream waits for an ack before redelivering (a crash between commit and
    #: ack: redelivered, then acknowledged as a duplicate).
    ack_wait: float = 30.0
    #: Back-off of a transient failure: base * 2**(delivery-1), at most max seconds.
    backoff_base: float = 0.5
    backoff_max: float = 30.0
    #: Messages fetched per pull, booked in one transaction: bigger batches book faster
    #: (fewer commits) but publish in bigger bursts; 96 measured best for both (ADR 0034).
    batch: int = 96
    #: Where the ledger is published (the bus-publisher): <out_prefix>.<tenant>.<type>.
    out_stream: str = "BOOKKEEPER_OUT"
    out_prefix: str = "bookkeeper.ledger"
    #: Where the Accounts Master's AccountCreated / AccountUpdated come from.
    accounts_stream: str = "BOOKKEEPER_ACCOUNTS"
    accounts_prefix: str = "bookkeeper.accounts"
    accounts_durable: str = "bookkeeper-accounts"
    #: The tenant is the first subject token after the prefix, and must be the envelope's.
    tenant_subjects: bool = False
    #: nats-py's own reconnect after a lost socket: tries, and seconds between two (its
    #: defaults). When they run out the client is closed for good, and the connection is
    #: made again with back-off (reconnect.py): base * 2**(attempt-1) seconds, at most
    #: max, of which a random half (jitter).
    reconnect_attempts: int = 60
    reconnect_wait: float = 2.0
    reconnect_backoff_base: float = 0.5
    reconnect_backoff_max: float = 30.0
    #: Seconds one attempt to connect (with its set-up) may take, the first one too.
    connect_timeout: float = 10.0

    def accounts(self) -> NatsSettings:
        """The settings of the Accounts Master's consumer: its own stream, subjects and
        durable; the same dead letters, deliveries and back-off."""
        return dataclasses.replace(
            self,
            stream=self.accounts_stream,
            subject_prefix=self.accounts_prefix,
            durable=self.accounts_durable,
        )

    @property
    def filter_subject(self) -> str:
        return f"{self.subject_prefix}.>"

    def subject_tenant(self, subject: str) -> str | None:
        """The tenant an inbound subject names (`<prefix>.<tenant>.…`), None if none."""
        head = self.subject_prefix + "."
        if not subject.startswith(head):
            return None
        parts = subject[len(head) :].split(".")
        return parts[0] if len(parts) > 1 and parts[0] else None


def load_nats_settings(environ: Mapping[str, str] | None = None) -> NatsSettings | None:
    """The NATS settings, or None when BOOKKEEPER_NATS_URL is unset; SettingsError if bad."""
    env = os.environ if environ is None else environ

    def get(name: str) -> str | None:
        return env.get(PREFIX + name, "").strip() or None

    url = get("NATS_URL")
    if url is None:
        return None
    if not url.startswith(("nats://", "tls://", "ws://", "wss://")):
        raise SettingsError(f"{PREFIX}NATS_URL must be a nats:// (or tls://) URL")
    for server in url.split(","):  # nats-py takes a comma list of servers
        try:
            urllib.parse.urlsplit(server.strip()).port  # noqa: B018 (raises if not a number)
        except ValueError:
            # Taken, it was retried in the background for ever ("invalid connect url
            # option") while the service looked up. Never repeated: it may hold a password.
            raise SettingsError(
                f"{PREFIX}NATS_URL's port must be a number from 1 to 65535"
            ) from None
    fields: dict[str, object] = {"url": url}
    for name, key, pattern in (
        ("NATS_STREAM", "stream", _NAME),
        ("NATS_SUBJECT_PREFIX", "subject_prefix", _SUBJECT),
        ("NATS_DURABLE", "durable", _NAME),
        ("NATS_DEAD_LETTER_STREAM", "dead_letter_stream", _NAME),
        ("NATS_DEAD_LETTER_SUBJECT", "dead_letter_subject", _SUBJECT),
        ("NATS_OUT_STREAM", "out_stream", _NAME),
        ("NATS_OUT_SUBJECT_PREFIX", "out_prefix", _SUBJECT),
        ("NATS_ACCOUNTS_STREAM", "accounts_stream", _NAME),
        ("NATS_ACCOUNTS_SUBJECT_PREFIX", "accounts_prefix", _SUBJECT),
        ("NATS_ACCOUNTS_DURABLE", "accounts_durable", _NAME),
    ):
        value = get(name)
        if value is not None:
            if not pattern.fullmatch(value):
                raise SettingsError(f"{PREFIX}{name} has characters NATS names cannot hold")
            fields[key] = value
    raw = get("NATS_MAX_DELIVER")
    if raw is not None:
        if not raw.isdigit() or not 1 <= int(raw) <= MAX_DELIVER_LIMIT:
            raise SettingsError(f"{PREFIX}NATS_MAX_DELIVER must be 1..{MAX_DELIVER_LIMIT}")
        fields["max_deliver"] = int(raw)
    raw = get("NATS_BATCH")
    if raw is not None:
        if not raw.isdigit() or not 1 <= int(raw) <= MAX_BATCH:
            raise SettingsError(f"{PREFIX}NATS_BATCH must be 1..{MAX_BATCH}")
        fields["batch"] = int(raw)
    raw = get("NATS_TENANT_SUBJECTS")
    if raw is not None:
        if raw.lower() not in ("1", "true", "on", "yes", "0", "false", "off", "no"):
            raise SettingsError(f"{PREFIX}NATS_TENANT_SUBJECTS must be on or off")
        fields["tenant_subjects"] = raw.lower() in ("1", "true", "on", "yes")
    fields.update(_reconnect_fields(get))
    settings = NatsSettings(**fields)  # type: ignore[arg-type]
    if settings.dead_letter_subject.startswith(settings.subject_prefix + "."):
        raise SettingsError(f"{PREFIX}NATS_DEAD_LETTER_SUBJECT must be outside the inbound prefix")
    prefixes = (settings.subject_prefix + ".", settings.out_prefix + ".")
    if prefixes[0].startswith(prefixes[1]) or prefixes[1].startswith(prefixes[0]):
        raise SettingsError(f"{PREFIX}NATS_OUT_SUBJECT_PREFIX must not overlap the inbound one")
    accounts = settings.accounts_prefix + "."
    if any(accounts.startswith(p) or p.startswith(accounts) for p in prefixes) or (
        settings.dead_letter_subject.startswith(accounts)
    ):
        raise SettingsError(
            f"{PREFIX}NATS_ACCOUNTS_SUBJECT_PREFIX must not overlap the other subjects"
        )
    if len({settings.stream, settings.out_stream, settings.accounts_stream}) < 3:
        raise SettingsError(f"{PREFIX}NATS_ACCOUNTS_STREAM must be a stream of its own")
    return settings


def _seconds(name: str, raw: str, low: float, high: float) -> float:
    try:
        value = float(raw)
    except ValueError:
        value = float("nan")
    if not low <= value <= high:  # NaN and inf fail here too
        raise SettingsError(f"{PREFIX}{name} must be seconds in {low:g}..{high:g}, not {raw!r}")
    return value


def _reconnect_fields(get: Callable[[str], str | None]) -> dict[str, object]:
    """The reconnect settings given (BOOKKEEPER_NATS_RECONNECT_*, _CONNECT_TIMEOUT)."""
    fields: dict[str, object] = {}
    raw = get("NATS_RECONNECT_ATTEMPTS")
    if raw is not None:
        if not re.fullmatch(r"-1|\d{1,6}", raw) or int(raw) > MAX_RECONNECT_ATTEMPTS:
            raise SettingsError(
                f"{PREFIX}NATS_RECONNECT_ATTEMPTS must be 0..{MAX_RECONNECT_ATTEMPTS} "
                "(or -1: for ever)"
            )
        fields["reconnect_attempts"] = int(raw)
    for name, key, low, high in (
        ("NATS_RECONNECT_WAIT", "reconnect_wait", 0.1, 600.0),
        ("NATS_RECONNECT_BACKOFF_BASE", "reconnect_backoff_base", 0.1, 600.0),
        ("NATS_RECONNECT_BACKOFF_MAX", "reconnect_backoff_max", 0.1, 3600.0),
        ("NATS_CONNECT_TIMEOUT", "connect_timeout", 1.0, 600.0),
    ):
        raw = get(name)
        if raw is not None:
            fields[key] = _seconds(name, raw, low, high)
    base = fields.get("reconnect_backoff_base", NatsSettings.reconnect_backoff_base)
    ceiling = fields.get("reconnect_backoff_max", NatsSettings.reconnect_backoff_max)
    assert isinstance(base, float) and isinstance(ceiling, float)
    if ceiling < base:
        raise SettingsError(
            f"{PREFIX}NATS_RECONNECT_BACKOFF_MAX ({ceiling:g}) must be at least "
            f"{PREFIX}NATS_RECONNECT_BACKOFF_BASE ({base:g})"
        )
    return fields


def load_bus_approval_limit(environ: Mapping[str, str] | None = None) -> str | None:
    """BOOKKEEPER_BUS_APPROVAL_LIMIT: the bus's own approval limit (unset: the tenant's
    default), the bound of its service principal (translation.bus_principal)."""
    env = os.environ if environ is None else environ
    raw = env.get(PREFIX + "BUS_APPROVAL_LIMIT", "").strip() or None
    if raw is None:
        return None
    # Checked here, at start: a value that is no amount made every message the bus booked
    # fail its approval ("nothing can be approved with it"), long after the start.
    try:
        approval_limit(raw)
    except ValueError:
        raise SettingsError(
            f"{PREFIX}BUS_APPROVAL_LIMIT must be a non-negative decimal amount such as 5000.00"
        ) from None
    return raw


def load_bus_tenants(environ: Mapping[str, str] | None = None) -> frozenset[str] | None:
    """BOOKKEEPER_BUS_TENANTS: the tenants the NATS bus is bound to — it books messages
    naming them and publishes their ledger (`<out_prefix>.<tenant>.…`), and no other's.

        acme,globex   only these (a comma list of tenant ids): what a deployment of more
                      than one company sets, so that a service allowed to publish on the
                      inbound subjects cannot book into every company, nor one reading the
                      published ledger read them all
        * or unset    every tenant a message names, and every tenant's ledger (None): the
                      bus of one company — the seeds' primary way for the company's services
                      to book works without a setting; `serve` warns at start while unset

    The in-process bus (`POST /bus/events`) is bound by its caller's token instead."""
    env = os.environ if environ is None else environ
    names = frozenset(
        t.strip() for t in env.get(PREFIX + "BUS_TENANTS", "").split(",") if t.strip()
    )
    if not names:
        return None
    if ANY_TENANT in names:
        if len(names) > 1:
            raise SettingsError(
                f"{PREFIX}BUS_TENANTS is either * (every tenant) or a list of tenants, not both"
            )
        return None
    for name in sorted(names):
        if not names_a_tenant(name):
            raise SettingsError(
                f"{PREFIX}BUS_TENANTS: {name[:MAX_NAME]!r} is no tenant the bus can book for "
                f"({TENANT_RULE}, not the operator's {BUS_TENANT})"
            )
    return names
