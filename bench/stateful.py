"""Stateful mode's cost: the same httpx call answered by a static and by a stateful router.

Both routers serve the Auth Service contract in one process, interleaved round by round, so the
ratio compares like with like: GET of the seeded user (static: its example; stateful: the stored
item put into the example's envelope and checked against the contract), and the list. Run:
`python -m bench.stateful [--calls N] [--rounds R]`; figures go to bench/results/.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from typing import Any

import httpx

from authsvc.mock import mock_router

BASE = "https://api.joinworth.com/auth/api/v1"
CUSTOMER = "497f6eca-6276-4993-bfeb-53cbbbba6f08"  # where the contract's examples are seeded
USER = "94520740-d63c-4e02-85ca-c4e138801e73"
CALLS = {
    "get user": f"/customers/{CUSTOMER}/users/{USER}",
    "list users": f"/customers/{CUSTOMER}/users",
}
HEADERS = {"Authorization": "Bearer bench"}


def _per_call_us(client: httpx.Client, path: str, calls: int) -> float:
    for _ in range(min(50, calls)):
        client.get(path, headers=HEADERS)
    started = time.perf_counter()
    for _ in range(calls):
        response = client.get(path, headers=HEADERS)
        if response.status_code != 200 or "sl-violations" in response.headers:
            raise RuntimeError(f"unexpected answer: {response.status_code} {response.text[:200]}")
    return (time.perf_counter() - started) / calls * 1e6


def measure(*, calls: int, rounds: int) -> dict[str, Any]:
    """Median microseconds per call, static and stateful, and their ratio, per call."""
    routers = {"static": mock_router(), "stateful": mock_router(stateful=True)}
    samples: dict[str, dict[str, list[float]]] = {name: {m: [] for m in routers} for name in CALLS}
    with httpx.Client(base_url=BASE) as client:
        for _ in range(rounds):
            for name, path in CALLS.items():
                for mode, router in routers.items():
                    with router:
                        samples[name][mode].append(_per_call_us(client, path, calls))
    result: dict[str, Any] = {}
    for name, by_mode in samples.items():
        medians = {mode: statistics.median(values) for mode, values in by_mode.items()}
        result[name] = {**medians, "ratio": medians["stateful"] / medians["static"]}
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    print(json.dumps(measure(calls=args.calls, rounds=args.rounds), indent=2))


if __name__ == "__main__":
    main()
