"""Records only the service writes cannot be submitted by clients."""

from __future__ import annotations

from tests.http_helpers import API, Api


async def test_a_client_cannot_record_what_an_extraction_cost(api: Api) -> None:
    """DocumentExtracted is written by the pipeline only: a client posting one (to inflate
    or hide AI spending) is refused and nothing is recorded."""
    response = await api.submit(
        "DocumentExtracted",
        {
            "documentHash": "ab" * 32,
            "extractor": "claude",
            "documentType": "receipt",
            "model": "claude-haiku-4-5",
            "inputTokens": 1_000_000,
            "outputTokens": 1_000_000,
            "costUsd": "9999.00",
        },
    )
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    log = await api.client.get(
        f"{API}/events", params={"type": "DocumentExtracted"}, headers=api.viewer
    )
    assert log.status_code == 200
    assert log.json()["items"] == []
