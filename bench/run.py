"""Run every benchmark in one go and write `bench/results/<date>.{json,md}`.

    python -m bench.run                 # full run (about 10 minutes on 2 cores)
    python -m bench.run --smoke         # < 60 s; fails only on errors, never on timing

Every subject runs back to back with its baseline, in `--rounds` rounds; the report takes the
median of the rounds. See bench/README.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

from bench import (
    before,
    breakdown,
    contract,
    lifecycle,
    machine,
    mock_server,
    outbox,
    report,
    router,
    service,
)
from bench.load import have_wrk

RESULTS = Path(__file__).resolve().parent / "results"


class BenchError(RuntimeError):
    """Something did not work (a crash, a wrong status, a socket error): never a slow figure."""


def _check_loads(sample: dict[str, Any]) -> None:
    for load in sample["loads"]:
        if not load["ok"]:
            raise BenchError(f"{sample['subject']} at {load['connections']} connections: {load}")


def run_service(args: argparse.Namespace, log_dir: Path) -> dict[str, Any]:
    samples: list[dict[str, Any]] = []
    kw = {
        "connections": args.connections,
        "seconds": args.seconds,
        "warmup_seconds": args.warmup,
        "tool": args.tool,
    }

    def one(name: str, started: Any) -> None:
        if args.subjects and name not in args.subjects and name != "baseline":
            return  # not started: `started` is a context manager that has not run yet
        with started as subject:
            sample = service.measure(name, subject, **kw)
        sample["round"] = rnd
        _check_loads(sample)
        samples.append(sample)
        _progress(sample)

    with (
        service.postgres_cluster() if args.postgres else _nothing() as pg_url,
        before.installed(args.before) if args.before else _nothing() as before_bin,
    ):
        if args.postgres and pg_url is None:
            print("bench: PostgreSQL skipped: no initdb/pg_ctl (or no postgres user)", flush=True)
        for rnd in range(args.rounds):
            one("baseline", service.baseline(log_dir))
            if not args.smoke:  # for reference: the ratios use the service's own loop (asyncio)
                one("baseline-uvloop", service.baseline(log_dir, loop="uvloop"))
            one("service-sqlite", service.service(log_dir))
            if not args.smoke:
                one("service-sqlite-nodelivery", service.service(log_dir, delivery=False))
                # the durability default's cost (docs/reliability.md): the same with NORMAL
                one("service-sqlite-normal", service.service(log_dir, sqlite_synchronous="NORMAL"))
            if before_bin:
                one("service-sqlite@before", service.service(log_dir, before=before_bin))
            if pg_url:
                url = service.fresh_database(pg_url, f"bench_{int(time.time())}_{rnd}")
                one("service-postgresql", service.service(log_dir, url))
                if before_bin:
                    url = service.fresh_database(pg_url, f"bench_{int(time.time())}_{rnd}_before")
                    one(
                        "service-postgresql@before",
                        service.service(log_dir, url, before=before_bin),
                    )
    return {"samples": samples}


def run_mock(args: argparse.Namespace, log_dir: Path) -> dict[str, Any]:
    prism = mock_server.prism_command()
    if prism is None and args.install_prism:
        prism = mock_server.install_prism(Path(tempfile.mkdtemp(prefix="authsvc-prism-")))
    skipped = None if prism else "Prism not found (set AUTHSVC_TEST_PRISM_BIN or --install-prism)"
    if skipped:
        print(f"bench: {skipped}; measuring authsvc mock alone", flush=True)
    samples: list[dict[str, Any]] = []
    kw = {"connections": [16], "seconds": args.seconds, "warmup_seconds": args.warmup}
    for rnd in range(args.rounds):
        subjects: list[tuple[str, Any]] = [("authsvc-mock", mock_server.authsvc_mock(log_dir))]
        if prism:
            subjects.append(("prism", mock_server.prism(log_dir, prism, silent=False)))
            subjects.append(("prism-silent", mock_server.prism(log_dir, prism, silent=True)))
        for name, started in subjects:
            with started as subject:
                sample = service.measure(name, subject, tool=args.tool, **kw)
            sample["round"] = rnd
            _check_loads(sample)
            samples.append(sample)
            _progress(sample)
    parity = None
    if prism:
        with (
            mock_server.authsvc_mock(log_dir) as (_, a),
            mock_server.prism(log_dir, prism, silent=True) as (_, b),
        ):
            same, detail = mock_server.same_answer(a, b)
        parity = {"same_answer": same, "detail": detail}
        if not same:
            raise BenchError(f"authsvc mock and Prism answer differently: {detail}")
    return {"samples": samples, "prism": prism, "skipped": skipped, "parity": parity}


def run_router(args: argparse.Namespace, log_dir: Path) -> dict[str, Any]:
    with mock_server.authsvc_mock(log_dir) as (server, _):
        return router.measure_router(
            calls=args.router_calls, rounds=args.rounds, mock_base_url=server.base_url
        )


def run_breakdown(args: argparse.Namespace, _log_dir: Path) -> dict[str, Any]:
    return breakdown.measure_breakdown(requests=args.breakdown_requests, rounds=args.rounds)


def run_contract(args: argparse.Namespace, log_dir: Path) -> dict[str, Any]:
    runs = []
    for _ in range(args.rounds):
        with service.service(log_dir) as (server, target):
            token = dict(target.headers)["Authorization"].removeprefix("Bearer ")
            runs.append(
                contract.run_schemathesis(
                    server.base_url + "/auth/api/v1/openapi.json",
                    token=token,
                    examples=args.contract_examples,
                )
            )
    return {
        "examples": args.contract_examples,
        "runs": runs,
        "median_s": statistics.median(r["seconds"] for r in runs),
    }


class _nothing:
    def __enter__(self) -> Any:
        return None

    def __exit__(self, *_: object) -> None:
        return None


def _progress(sample: dict[str, Any]) -> None:
    loads = ", ".join(
        f"c={x['connections']}: {x['rps']:.0f} req/s p99 {x['p99_ms']:.1f} ms"
        for x in sample["loads"]
    )
    print(f"  {sample['subject']:<20} startup {sample['startup_s']:.2f}s  {loads}", flush=True)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__)
    parser.add_argument("--smoke", action="store_true", help="one short pass (< 60 s)")
    parser.add_argument(
        "--suites", default="service,lifecycle,outbox,mock,router,breakdown,contract"
    )
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=5.0, help="per load point")
    parser.add_argument("--warmup", type=float, default=1.0)
    parser.add_argument("--connections", default="1,16,64")
    parser.add_argument("--no-postgres", dest="postgres", action="store_false")
    parser.add_argument("--tool", choices=("auto", "wrk", "python"), default="auto")
    parser.add_argument("--install-prism", action="store_true", help="npm install it if missing")
    parser.add_argument("--router-calls", type=int, default=2000)
    parser.add_argument("--breakdown-requests", type=int, default=500)
    parser.add_argument("--contract-examples", type=int, default=25)
    parser.add_argument("--outbox-connections", type=int, default=16)
    parser.add_argument("--outbox-seconds", type=float, default=60.0, help="outbox: load length")
    parser.add_argument("--outbox-interval", type=float, default=5.0, help="outbox: sampling")
    parser.add_argument(
        "--outbox-drain-seconds", type=float, default=180.0, help="outbox: wait for the backlog"
    )
    parser.add_argument(
        "--before",
        type=Path,
        help="also run the service from this source tree, installed in a throwaway venv "
        "(before/after figures; trees from commit 68a1125 on)",
    )
    parser.add_argument(
        "--subjects",
        help="service suite: only these subjects (comma-separated; the baseline always runs)",
    )
    parser.add_argument("--out", type=Path, help="results directory (default bench/results)")
    args = parser.parse_args(argv)
    args.connections = [int(c) for c in str(args.connections).split(",")]
    args.subjects = {s.strip() for s in args.subjects.split(",")} if args.subjects else None
    if args.smoke:
        args.rounds, args.seconds, args.warmup = 1, 1.0, 0.0
        args.connections, args.postgres, args.router_calls = [16], False, 200
        args.breakdown_requests = 50
        args.contract_examples = 3
        args.outbox_seconds, args.outbox_interval = 4.0, 1.0
    return args


def main(argv: list[str] | None = None) -> int:
    # Connexion imports Starlette's TestClient eagerly, which announces its own deprecation.
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
    args = parse_args(argv)
    suites = [s.strip() for s in args.suites.split(",") if s.strip()]
    runners = {
        "service": run_service,
        "mock": run_mock,
        "router": run_router,
        "breakdown": run_breakdown,
        "contract": run_contract,
        "lifecycle": lifecycle.run_lifecycle,
        "outbox": outbox.run_outbox,
    }
    unknown = set(suites) - set(runners)
    if unknown:
        print(f"bench: unknown suites {sorted(unknown)}", file=sys.stderr)
        return 2
    started = time.perf_counter()
    out_dir = args.out or (
        Path(tempfile.mkdtemp(prefix="authsvc-bench-")) if args.smoke else RESULTS
    )
    out_dir.mkdir(parents=True, exist_ok=True)
    results: dict[str, Any] = {
        "started": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "mode": "smoke" if args.smoke else "full",
        "settings": {k: v for k, v in vars(args).items() if k != "out"} | {"wrk": have_wrk()},
        "machine": machine.describe(mock_server.prism_command()),
    }
    with tempfile.TemporaryDirectory(prefix="authsvc-bench-logs-") as logs:
        try:
            for name in suites:
                print(f"bench: {name}", flush=True)
                results[name] = runners[name](args, Path(logs))
        except Exception as exc:
            print(f"bench: FAILED: {type(exc).__name__}: {exc}", file=sys.stderr)
            for log in sorted(Path(logs).glob("*.log")):
                print(f"--- {log.name}\n{log.read_text(errors='replace')[-1500:]}", file=sys.stderr)
            return 1
    results["machine"]["loadavg_at_end"] = machine.loadavg()
    results["elapsed_s"] = round(time.perf_counter() - started, 1)
    stem = dt.date.today().isoformat() + ("-smoke" if args.smoke else "")
    (out_dir / f"{stem}.json").write_text(json.dumps(results, indent=2, default=str) + "\n")
    rendered = report.render(results)
    if "lifecycle" in results:
        rendered += "\n" + lifecycle.render(results["lifecycle"])
    if "outbox" in results:
        rendered += "\n" + outbox.render(results["outbox"])
    (out_dir / f"{stem}.md").write_text(rendered)
    print(rendered)
    print(f"bench: wrote {out_dir / stem}.{{json,md}} in {results['elapsed_s']} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
