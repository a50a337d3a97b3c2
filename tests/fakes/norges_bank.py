"""A fake of Norges Bank's SDMX data API for daily exchange rates, on a loopback socket.

GET /api/data/EXR/B.{CUR}.NOK.SP?startPeriod&endPeriod&format=sdmx-json answers SDMX-JSON
as Norges Bank does: one series ("0:0:0:0") whose observations are indexed into the
TIME_PERIOD values, with the UNIT_MULT series attribute (2 for currencies quoted per 100).
Only banking days have a rate (`rates` holds what is published); a window without any is a
404, like the real service. `fail_next(n, status)` answers an error instead.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
from collections.abc import AsyncIterator, Callable
from decimal import Decimal
from typing import Any

from litestar import Litestar, Request, Response, get

from tests.fakes.server import serve


@dataclasses.dataclass
class FakeNorgesBank:
    #: (currency, date) → NOK per `10**unit_mult` units.
    rates: dict[tuple[str, dt.date], Decimal] = dataclasses.field(default_factory=dict)
    unit_mult: dict[str, int] = dataclasses.field(default_factory=dict)
    requests: list[dict[str, str]] = dataclasses.field(default_factory=list)
    _failures: list[int] = dataclasses.field(default_factory=list)
    #: Changes the next answers' SDMX-JSON body in place (a changed or broken contract).
    mangle: Callable[[dict[str, Any]], None] | None = None

    def fail_next(self, n: int = 1, status: int = 503) -> None:
        self._failures.extend([status] * n)

    @property
    def app(self) -> Litestar:
        fake = self

        @get("/api/data/EXR/{key:str}", sync_to_thread=False)
        def exchange_rates(request: Request[Any, Any, Any]) -> Response[Any]:
            return fake._answer(request.path_params["key"], dict(request.query_params))

        return Litestar([exchange_rates], openapi_config=None)

    def _answer(self, key: str, params: dict[str, str]) -> Response[Any]:
        self.requests.append({"key": key, **params})
        if self._failures:
            status = self._failures.pop(0)
            # A throttled client is told when to come back, as data.norges-bank.no's gateway does.
            headers = {"Retry-After": "120"} if status == 429 else None
            return Response("error", status_code=status, headers=headers)
        parts = key.split(".")
        if len(parts) != 4 or parts[0] != "B" or parts[2:] != ["NOK", "SP"]:
            return Response("bad key", status_code=400)
        if params.get("format") != "sdmx-json":
            return Response("<xml/>", status_code=200, media_type="application/xml")
        currency = parts[1]
        start = dt.date.fromisoformat(params["startPeriod"])
        end = dt.date.fromisoformat(params["endPeriod"])
        found = sorted(
            (d, r) for (c, d), r in self.rates.items() if c == currency and start <= d <= end
        )
        if not found:
            return Response("NoResultsFound", status_code=404)
        body = {
            "meta": {"id": "fake", "prepared": "2026-12-06T00:00:00"},
            "data": {
                "dataSets": [
                    {
                        "action": "Information",
                        "series": {
                            "0:0:0:0": {
                                "attributes": [0, 0, 0, 0],
                                "observations": {
                                    str(i): [str(r)] for i, (_, r) in enumerate(found)
                                },
                            }
                        },
                    }
                ],
                "structure": {
                    "dimensions": {
                        "series": [
                            {"id": "FREQ", "values": [{"id": "B"}]},
                            {"id": "BASE_CUR", "values": [{"id": currency}]},
                            {"id": "QUOTE_CUR", "values": [{"id": "NOK"}]},
                            {"id": "TENOR", "values": [{"id": "SP"}]},
                        ],
                        "observation": [
                            {
                                "id": "TIME_PERIOD",
                                "values": [
                                    {"id": d.isoformat(), "name": d.isoformat()} for d, _ in found
                                ],
                            }
                        ],
                    },
                    "attributes": {
                        "series": [
                            {"id": "DECIMALS", "values": [{"id": "4"}]},
                            {"id": "CALCULATED", "values": [{"id": "false"}]},
                            {
                                "id": "UNIT_MULT",
                                "values": [{"id": str(self.unit_mult.get(currency, 0))}],
                            },
                            {"id": "COLLECTION", "values": [{"id": "C"}]},
                        ]
                    },
                },
            },
        }
        if self.mangle is not None:
            self.mangle(body)
        return Response(body, media_type="application/vnd.sdmx.data+json")


@contextlib.asynccontextmanager
async def running_fake_norges_bank() -> AsyncIterator[tuple[FakeNorgesBank, str]]:
    fake = FakeNorgesBank()
    async with serve(fake.app) as url:
        yield fake, f"{url}/api"
