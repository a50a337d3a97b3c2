"""What an operator sees: request ids, one access-log line per request (refused ones too),
/metrics without a token and without tenant data, JSON logs."""

from __future__ import annotations

import io
import json
import logging
import re

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from bookkeeper.adapters.metrics import MeteredTransport, record_pass
from bookkeeper.application.execution.policy import ExecutionReport
from bookkeeper.entrypoints.logs import choose_format, make_handler, request_id
from tests.http_helpers import API, Api, expense, media_type_parameters

Sample = tuple[str, dict[str, str], float]


async def scrape(api: Api) -> list[Sample]:
    """/metrics parsed by prometheus-client's own text parser."""
    response = await api.client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return [
        (sample.name, dict(sample.labels), sample.value)
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    ]


def value(samples: list[Sample], name: str, **labels: str) -> float:
    """The sum of the samples of `name` whose labels include `labels` (0 when none)."""
    return sum(
        sample
        for metric, pairs, sample in samples
        if metric == name and all(pairs.get(k) == v for k, v in labels.items())
    )


async def test_a_request_id_is_made_or_honoured_and_echoed(api: Api) -> None:
    made = await api.client.get("/health")
    assert re.fullmatch(r"[0-9a-f]{32}", made.headers["x-request-id"])
    honoured = await api.client.get("/health", headers={"X-Request-ID": "trace-42.a"})
    assert honoured.headers["x-request-id"] == "trace-42.a"
    unsafe = await api.client.get("/health", headers={"X-Request-ID": 'a b"<script>'})
    assert unsafe.headers["x-request-id"] != 'a b"<script>'
    assert re.fullmatch(r"[0-9a-f]{32}", unsafe.headers["x-request-id"])
    refused = await api.client.get(f"{API}/events")
    assert refused.status_code == 401
    assert refused.headers["x-request-id"]


async def test_every_request_gets_one_access_line_without_secrets(
    api: Api, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="bookkeeper.access")
    token = api.reviewer["Authorization"].split()[1]
    created = await api.propose("ExpenseRegistrationProposed", expense())
    caplog.clear()
    await api.client.get(f"{API}/proposals/{created['proposalId']}", headers=api.reviewer)
    await api.client.get(f"{API}/events", headers={"Authorization": "Bearer not-a-token"})
    await api.client.get(f"{API}/no-such-route", headers=api.viewer)
    lines = [r for r in caplog.records if r.name == "bookkeeper.access"]
    assert len(lines) == 3
    read, refused, missing = lines
    assert read.__dict__["route"] == f"{API}/proposals/{{proposal_id}}"
    assert read.__dict__["status"] == 200
    assert read.__dict__["actor"] == "human:kari"
    assert read.__dict__["tenant"] == "acme"
    assert read.__dict__["duration_ms"] >= 0
    assert refused.__dict__["status"] == 401 and refused.__dict__["actor"] is None
    assert missing.__dict__["status"] == 404 and missing.__dict__["route"] == "unmatched"
    text = "\n".join(r.getMessage() + repr(r.__dict__) for r in lines)
    assert token not in text
    assert "not-a-token" not in text
    assert created["proposalId"] not in text  # the route template, never the path's ids


async def test_metrics_name_their_charset_once(api: Api) -> None:
    """Prometheus 3 reads the Content-Type strictly and fails a scrape whose value repeats a
    parameter: the exposition format's own type, with one charset."""
    response = await api.client.get("/metrics")
    content_type = response.headers["content-type"]
    assert content_type.split(";")[0] == "text/plain"
    assert media_type_parameters(content_type) == ["version", "charset"]


async def test_metrics_count_requests_by_route_template_and_status(api: Api) -> None:
    before = await scrape(api)
    for _ in range(3):
        await api.client.get(f"{API}/events", headers={"Authorization": "Bearer nope"})
    await api.client.get(f"{API}/patterns", headers=api.viewer)
    after = await scrape(api)
    route = f"{API}/events"
    grew = value(after, "bookkeeper_http_requests_total", route=route, status="401") - value(
        before, "bookkeeper_http_requests_total", route=route, status="401"
    )
    assert grew == 3
    count = "bookkeeper_http_request_duration_seconds_count"
    assert (
        value(after, count, route=f"{API}/patterns") - value(before, count, route=f"{API}/patterns")
        == 1
    )


async def test_metrics_count_proposals_by_outcome_and_show_no_tenant(api: Api) -> None:
    before = await scrape(api)
    created = await api.propose("ExpenseRegistrationProposed", expense())
    rejected = await api.reject(created["proposalId"], {"reason": "not ours"})
    assert rejected.status_code == 200, rejected.text
    after = await scrape(api)
    name = "bookkeeper_proposal_events_total"
    for outcome in ("proposed", "rejected"):
        assert value(after, name, outcome=outcome) - value(before, name, outcome=outcome) == 1
    body = (await api.client.get("/metrics")).text
    assert "acme" not in body
    assert created["proposalId"] not in body


async def test_external_calls_are_counted_by_system_and_status() -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(429 if request.url.path == "/busy" else 200)

    transport = MeteredTransport("fiken-test", httpx.MockTransport(answer))
    async with httpx.AsyncClient(transport=transport, base_url="http://books") as client:
        from bookkeeper.adapters.metrics import EXTERNAL_CALLS

        ok = EXTERNAL_CALLS.labels(system="fiken-test", status="200")
        busy = EXTERNAL_CALLS.labels(system="fiken-test", status="429")
        before_ok, before_busy = ok._value.get(), busy._value.get()
        await client.get("/fine")
        await client.get("/busy")
        await client.get("/fine")
        assert ok._value.get() - before_ok == 2
        assert busy._value.get() - before_busy == 1


async def test_a_failed_exchange_is_counted_by_its_error_class() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    from bookkeeper.adapters.metrics import EXTERNAL_CALLS

    counter = EXTERNAL_CALLS.labels(system="folio-test", status="ConnectError")
    before = counter._value.get()
    transport = MeteredTransport("folio-test", httpx.MockTransport(refuse))
    async with httpx.AsyncClient(transport=transport) as client:
        with pytest.raises(httpx.ConnectError):
            await client.get("http://bank/x")
    assert counter._value.get() - before == 1


async def test_executor_passes_are_counted(api: Api) -> None:
    before = await scrape(api)
    record_pass(ExecutionReport(claimed=5, executed=3, failed=1, retried=1))
    record_pass(ExecutionReport(claim_error="database unavailable"))
    after = await scrape(api)

    def grew(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert grew("bookkeeper_executor_passes_total") == 2
    assert grew("bookkeeper_executor_claim_errors_total") == 1
    assert grew("bookkeeper_executor_attempts_total", result="executed") == 3
    assert grew("bookkeeper_executor_attempts_total", result="failed") == 1
    assert value(after, "bookkeeper_executor_claimed") == 0


def test_json_logs_carry_the_request_id_and_extra_fields() -> None:
    stream = io.StringIO()
    logger = logging.getLogger("bookkeeper.test-json")
    logger.propagate = False
    handler = make_handler("json", stream)
    logger.addHandler(handler)
    try:
        token = request_id.set("rid-1")
        logger.warning("hello %s", "there", extra={"route": "/x", "status": 201})
        request_id.reset(token)
        logger.warning("outside")
    finally:
        logger.removeHandler(handler)
    first, second = (json.loads(line) for line in stream.getvalue().splitlines())
    assert first["message"] == "hello there"
    assert first["level"] == "WARNING"
    assert first["logger"] == "bookkeeper.test-json"
    assert first["request_id"] == "rid-1"
    assert first["route"] == "/x" and first["status"] == 201
    assert first["time"]
    assert second["request_id"] is None


def test_the_log_format_is_text_on_a_terminal_and_json_elsewhere() -> None:
    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    assert choose_format(None, Tty()) == "text"
    assert choose_format(None, io.StringIO()) == "json"
    assert choose_format("json", Tty()) == "json"
    assert choose_format("text", io.StringIO()) == "text"
