"""How spending is configured and wired: settings from the environment (each source absent
without its credentials, secrets out of repr), the container building each adapter only
when configured, and the serving process's pull job."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from dependency_injector import providers

from bookkeeper.container import Container, resolve, shutdown
from bookkeeper.entrypoints.serve import start_process
from bookkeeper.entrypoints.spending_job import PULL_JOB
from bookkeeper.settings import Settings, SettingsError, load_settings
from tests.fakes.bigquery import FakeBigQuery
from tests.http_helpers import FixedClock, MemoryDatabase


def test_the_settings_of_each_source() -> None:
    settings = load_settings(
        {
            "BOOKKEEPER_ANTHROPIC_ADMIN_KEY": "sk-ant-admin01-secret",
            "BOOKKEEPER_CLOUDFLARE_TOKEN": "cf-secret",
            "BOOKKEEPER_CLOUDFLARE_ACCOUNT": "0123456789abcdef0123456789abcdef",
            "BOOKKEEPER_GOOGLE_BILLING_KEY_FILE": "/run/keys/google.json",
            "BOOKKEEPER_GOOGLE_BILLING_TABLE": "acme.billing.gcp_billing_export_v1_X",
            "BOOKKEEPER_GOOGLE_BILLING_SERVICES": "Vertex AI, Gemini API",
            "BOOKKEEPER_COSTS_TENANTS": "acme",
        }
    )
    assert settings.google_billing_services == ("Vertex AI", "Gemini API")
    assert settings.costs_tenants == ("acme",)
    assert "sk-ant-admin01-secret" not in repr(settings) and "cf-secret" not in repr(settings)
    for bad in (
        {"BOOKKEEPER_CLOUDFLARE_TOKEN": "t"},
        {"BOOKKEEPER_CLOUDFLARE_TOKEN": "t", "BOOKKEEPER_CLOUDFLARE_ACCOUNT": "acme"},
        {"BOOKKEEPER_GOOGLE_BILLING_KEY_FILE": "/k.json"},
        {
            "BOOKKEEPER_GOOGLE_BILLING_KEY_FILE": "/k.json",
            "BOOKKEEPER_GOOGLE_BILLING_TABLE": "x` OR 1=1",
        },
        {"BOOKKEEPER_NORGES_BANK_URL": "ftp://example"},
    ):
        with pytest.raises(SettingsError):
            load_settings(bad)


def container_with(tmp_path: Path, **overrides: object) -> Container:
    container = Container()
    container.settings.override(
        providers.Object(Settings.for_data_dir(tmp_path, executor_enabled=False, **overrides))
    )
    container.clock.override(providers.Object(FixedClock()))
    container.database.override(providers.Object(MemoryDatabase()))
    container.redacted_database_url.override(providers.Object("memory://"))
    return container


async def test_each_source_is_built_only_with_its_credentials(tmp_path: Path) -> None:
    key = tmp_path / "key.json"
    key.write_text(json.dumps(FakeBigQuery().key_info()), encoding="utf-8")
    container = container_with(tmp_path, google_billing_key_file=key, google_billing_table="p.d.t")
    try:
        spending = await resolve(container.spending)
        assert spending.source_names == ["bookkeeper", "google"]
        assert set(spending.absent) == {"anthropic", "cloudflare"}
    finally:
        await shutdown(container)


async def test_the_serving_process_pulls_on_a_schedule_when_scheduled_work_is_on(
    tmp_path: Path,
) -> None:
    for enabled in (True, False):
        container = container_with(
            tmp_path / str(enabled), morning_enabled=enabled, morning_tenants=("acme",)
        )
        process = await start_process(container)
        try:
            assert (PULL_JOB in process.jobs) is enabled
        finally:
            await process.close()
            await shutdown(container)


async def test_an_unreadable_google_key_is_a_settings_error_without_its_content(
    tmp_path: Path,
) -> None:
    key = tmp_path / "key.json"
    key.write_text('{"private_key": "-----BEGIN PRIVATE KEY-----secret', encoding="utf-8")
    container = container_with(tmp_path, google_billing_key_file=key, google_billing_table="p.d.t")
    try:
        with pytest.raises(SettingsError) as raised:
            await resolve(container.spending)
    finally:
        await shutdown(container)
    assert "key.json" in str(raised.value) and "PRIVATE" not in str(raised.value)
