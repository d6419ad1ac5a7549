"""Suite 3: per-call cost of an httpx call answered by `mock_router`, against two references.

- floor: the same call answered by a bare respx route returning a fixed response;
- network: the same call as a real HTTP round trip to `authsvc mock` on loopback.
"""

from __future__ import annotations

import functools
import statistics
import time
from collections.abc import Callable
from typing import Any

import httpx
import respx

from authsvc.mock import mock_router
from bench.mock_server import HEADERS, PATH, SPEC

BASE = "http://mock.bench/auth/api/v1"
RESEND_OK = {"status": "success", "message": "Invite mail sent successfully"}


def _per_call_us(call: Callable[[], httpx.Response], calls: int) -> float:
    for _ in range(min(50, calls)):  # warm caches and the router's compiled patterns
        call()
    started = time.perf_counter()
    for _ in range(calls):
        response = call()
        if response.status_code != 200:
            raise RuntimeError(f"unexpected {response.status_code}: {response.text[:200]}")
    return (time.perf_counter() - started) / calls * 1e6


def measure_router(*, calls: int, rounds: int, mock_base_url: str | None) -> dict[str, Any]:
    """Median microseconds per call for floor, router and (if given) network, interleaved."""
    headers = dict(HEADERS)
    floor_router = respx.MockRouter(base_url=BASE, assert_all_called=False)
    floor_router.post(PATH).respond(200, json=RESEND_OK)
    contract_router = mock_router(SPEC, base_url=BASE)
    client = httpx.Client(base_url=BASE)
    samples: dict[str, list[float]] = {"floor": [], "router": [], "network": []}

    def via(router: respx.MockRouter) -> float:
        with router:
            return _per_call_us(lambda: client.post(PATH, headers=headers), calls)

    try:
        for _ in range(rounds):
            samples["floor"].append(via(floor_router))
            samples["router"].append(via(contract_router))
            if mock_base_url:
                with httpx.Client(base_url=mock_base_url) as http:
                    samples["network"].append(
                        _per_call_us(functools.partial(http.post, PATH, headers=headers), calls)
                    )
    finally:
        client.close()
    medians = {k: statistics.median(v) for k, v in samples.items() if v}
    return {"calls_per_sample": calls, "samples_us": samples, "median_us": medians}
