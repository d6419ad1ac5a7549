"""The outbox under sustained load: does delivery keep up with what the API accepts?

    python -m bench.run --suites outbox                 # SQLite and PostgreSQL, 60 s of load each
    python -m bench.outbox --seconds 30 --no-postgres   # the suite alone, shorter

`authsvc serve` (the in-process delivery loop, the mail folder as transport) is driven with
`POST .../resend-invite` at a fixed connection count; each answer queues one invite mail. While
the load runs, and after it until the backlog is gone, the outbox table is sampled every
`--interval` seconds from outside the server: how many rows were enqueued and how many were sent
in that interval, and how many were pending at its end. Delivery keeps up when the sent rate
matches the enqueue rate and the backlog levels off instead of growing for as long as the load
lasts. The baseline of the same run is the enqueue rate itself (the figure is sent / enqueued);
`--before TREE` runs an older tree the same way for before/after figures.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, select, text

from bench import before, service
from bench.load import LoadResult, Target, run_load
from bench.procs import Server

# The outbox as any tree since 0001 has it: only these columns are read.
_COUNTS = "SELECT status, count(*) FROM mail_outbox GROUP BY status"


def _outbox_counts(engine: Engine) -> dict[str, int]:
    with engine.connect() as connection:
        return {str(status): int(n) for status, n in connection.execute(text(_COUNTS))}


def _latencies_s(engine: Engine) -> list[float]:
    """Enqueue-to-sent seconds of every sent message (the invite mail's wait, as a user sees it)."""
    from authsvc.db.models import outbox_table as t

    query = select(t.c.created_at, t.c.sent_at).where(t.c.sent_at.is_not(None))
    with engine.connect() as connection:
        return sorted(
            (sent - created).total_seconds() for created, sent in connection.execute(query)
        )


def _pct(values: list[float], q: float) -> float | None:
    return values[min(len(values) - 1, int(q * len(values)))] if values else None


@contextmanager
def _subject(
    log_dir: Path, database_url: str | None, before: Path | None
) -> Iterator[tuple[Server, Target, str]]:
    with tempfile.TemporaryDirectory(prefix="authsvc-bench-outbox-") as data_dir:
        url = database_url or f"sqlite:///{Path(data_dir) / 'authsvc.db'}"
        with service.service(log_dir, database_url, before=before, data_dir=Path(data_dir)) as (
            server,
            target,
        ):
            yield server, target, url


def measure(
    subject: str,
    log_dir: Path,
    *,
    database_url: str | None = None,
    before: Path | None = None,
    connections: int,
    seconds: float,
    interval: float,
    drain_seconds: float,
    tool: str,
) -> dict[str, Any]:
    """Load for `seconds`, sampling the outbox every `interval`; then wait for the backlog to drain."""
    with _subject(log_dir, database_url, before) as (server, target, url):
        engine = create_engine(url)
        try:
            return _run(
                subject, server, target, engine,
                connections=connections, seconds=seconds, interval=interval,
                drain_seconds=drain_seconds, tool=tool,
            )  # fmt: skip
        finally:
            engine.dispose()


def _run(
    subject: str,
    server: Server,
    target: Target,
    engine: Engine,
    *,
    connections: int,
    seconds: float,
    interval: float,
    drain_seconds: float,
    tool: str,
) -> dict[str, Any]:
    loads: list[LoadResult] = []
    failure: list[BaseException] = []

    ended: list[float] = []

    def drive() -> None:
        try:
            loads.append(run_load(target, connections=connections, seconds=seconds, tool=tool))
        except BaseException as exc:  # re-raised below, once the sampling has stopped
            failure.append(exc)
        finally:
            ended.append(time.monotonic() - started)

    start_counts = _outbox_counts(engine)
    base_total = sum(start_counts.values())
    base_sent = start_counts.get("SENT", 0)
    cpu_before = server.cpu_seconds()
    loader = threading.Thread(target=drive, name="bench-outbox-load")
    started = time.monotonic()
    loader.start()
    samples: list[dict[str, float]] = []
    previous = (0.0, 0, 0)
    load_ended_at: float | None = None
    while True:
        time.sleep(max(0.0, started + interval * (len(samples) + 1) - time.monotonic()))
        counts = _outbox_counts(engine)
        now = time.monotonic() - started
        total = sum(counts.values()) - base_total
        sent = counts.get("SENT", 0) - base_sent
        pending = counts.get("PENDING", 0)
        dt = now - previous[0]
        loading = loader.is_alive()
        samples.append(
            {
                "t_s": round(now, 2),
                "loading": loading,
                "enqueued": total,
                "sent": sent,
                "pending": pending,
                "enqueued_per_s": (total - previous[1]) / dt,
                "sent_per_s": (sent - previous[2]) / dt,
            }
        )
        previous = (now, total, sent)
        last = samples[-1]
        print(
            f"    t={now:5.0f}s {'load' if loading else 'idle'} enqueued {last['enqueued_per_s']:5.0f}/s"
            f"  sent {last['sent_per_s']:5.0f}/s  pending {pending}",
            flush=True,
        )
        if not loading and load_ended_at is None:
            load_ended_at = ended[0]
        if load_ended_at is not None and (pending == 0 or now - load_ended_at > drain_seconds):
            break
    loader.join()
    cpu = server.cpu_seconds() - cpu_before
    if failure:
        raise failure[0]
    load = loads[0]
    latencies = _latencies_s(engine)
    drained = samples[-1]["pending"] == 0
    enqueued = samples[-1]["enqueued"]
    return {
        "subject": subject,
        "load": {**load.as_dict(), "ok": load.ok},
        "samples": samples,
        "summary": _summarise(samples, latencies, load_ended_at or 0.0),
        "cpu_s": round(cpu, 2),
        "cpu_ms_per_resend": cpu * 1000 / enqueued if drained and enqueued else None,
        "drained": drained,
    }


def backlog_slope(samples: list[dict[str, Any]]) -> float:
    """Pending rows per second over `samples`, fitted by least squares; 0 for fewer than two."""
    if len(samples) < 2:
        return 0.0
    fit = statistics.linear_regression([s["t_s"] for s in samples], [s["pending"] for s in samples])
    return float(fit.slope)


def _summarise(
    samples: list[dict[str, Any]], latencies: list[float], load_ended_at: float
) -> dict[str, Any]:
    """Rates over the second half of the load (past the warm-up), backlog growth, mail latency."""
    during = [s for s in samples if s["loading"]]
    steady = during[len(during) // 2 :] or during
    drained = [s for s in samples if not s["loading"] and s["pending"] == 0]
    return {
        "enqueued_per_s": statistics.mean(s["enqueued_per_s"] for s in steady) if steady else 0,
        "sent_per_s": statistics.mean(s["sent_per_s"] for s in steady) if steady else 0,
        # rows/s the backlog grew over the steady half (least-squares slope, so one sample taken
        # just before a batch is recorded does not decide it): ~0 when delivery keeps up
        "backlog_growth_per_s": backlog_slope(steady),
        "pending_at_load_end": during[-1]["pending"] if during else 0,
        "peak_pending": max((s["pending"] for s in samples), default=0),
        # from the end of the load to the first sample with nothing pending (to within a sample)
        "drain_s": round(max(0.0, drained[0]["t_s"] - load_ended_at), 1) if drained else None,
        "latency_p50_s": _pct(latencies, 0.5),
        "latency_p99_s": _pct(latencies, 0.99),
        "latency_max_s": latencies[-1] if latencies else None,
    }


def run_outbox(args: argparse.Namespace, log_dir: Path) -> dict[str, Any]:
    """The suite, as `bench.run` calls it: each round SQLite then PostgreSQL, each with `@before`."""
    kw = {
        "connections": args.outbox_connections,
        "seconds": args.outbox_seconds,
        "interval": args.outbox_interval,
        "drain_seconds": args.outbox_drain_seconds,
        "tool": args.tool,
    }
    results: list[dict[str, Any]] = []

    def one(name: str, rnd: int, **more: Any) -> None:
        print(f"  {name} (round {rnd + 1}): {kw['seconds']:.0f} s of resends", flush=True)
        sample = measure(name, log_dir, **more, **kw)
        sample["round"] = rnd
        results.append(sample)
        s = sample["summary"]
        print(
            f"  {name:<26} enqueued {s['enqueued_per_s']:.0f}/s  sent {s['sent_per_s']:.0f}/s  "
            f"backlog {s['pending_at_load_end']} ({s['backlog_growth_per_s']:+.0f}/s)  "
            f"drain {s['drain_s']} s",
            flush=True,
        )
        if not sample["load"]["ok"]:
            raise RuntimeError(f"{name}: the load had errors: {sample['load']}")
        if not sample["drained"] and args.smoke:
            raise RuntimeError(f"{name}: the outbox did not drain within {kw['drain_seconds']} s")

    with (
        service.postgres_cluster() if args.postgres else nullcontext() as pg_url,
        before.installed(args.before) if args.before else nullcontext() as before_bin,
    ):
        for rnd in range(args.rounds):
            one("outbox-sqlite", rnd)
            if before_bin:
                one("outbox-sqlite@before", rnd, before=before_bin)
            if pg_url:
                stamp = f"{int(time.time())}_{rnd}"
                url = service.fresh_database(pg_url, f"outbox_{stamp}")
                one("outbox-postgresql", rnd, database_url=url)
                if before_bin:
                    url = service.fresh_database(pg_url, f"outbox_{stamp}_before")
                    one("outbox-postgresql@before", rnd, database_url=url, before=before_bin)
    return {"settings": kw, "rounds": args.rounds, "results": results}


def _row(label: str, runs: list[dict[str, Any]]) -> str:
    """One table row: the median over `runs` of each figure."""

    def med(values: list[float | None]) -> float | None:
        present = [v for v in values if v is not None]
        return statistics.median(present) if present else None

    def fig(value: float | None, spec: str) -> str:
        return "-" if value is None else format(value, spec)

    s = [r["summary"] for r in runs]
    enqueued, sent = med([x["enqueued_per_s"] for x in s]), med([x["sent_per_s"] for x in s])
    ratio = med([x["sent_per_s"] / x["enqueued_per_s"] if x["enqueued_per_s"] else None for x in s])
    waits = " / ".join(
        fig(med([x[k] for x in s]), ".1f")
        for k in ("latency_p50_s", "latency_p99_s", "latency_max_s")
    )
    drained = sum(1 for r in runs if r["drained"])
    cpu = med([r["cpu_ms_per_resend"] for r in runs])
    return (
        f"| {label} | {fig(med([r['load']['rps'] for r in runs]), '.0f')} | {fig(enqueued, '.0f')} "
        f"| {fig(sent, '.0f')} | {fig(ratio, '.2f')}x "
        f"| {fig(med([x['pending_at_load_end'] for x in s]), '.0f')} "
        f"| {fig(med([x['backlog_growth_per_s'] for x in s]), '+.0f')} "
        f"| {fig(med([x['drain_s'] for x in s]), '.0f')} ({drained}/{len(runs)}) "
        f"| {waits} | {fig(cpu, '.2f')} |"
    )


_HEADER = [
    "| subject | req/s | enqueued/s | sent/s | sent / enqueued | backlog at load end "
    "| backlog growth /s | drain s (drained) | mail wait p50 / p99 / max s | CPU ms per resend |",
    "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
]


def render(suite: dict[str, Any]) -> str:
    """The suite as Markdown: medians over the rounds, each round, then round 1 over time."""
    settings = suite["settings"]
    results = suite["results"]
    subjects = list(dict.fromkeys(r["subject"] for r in results))
    lines = [
        "## Outbox: enqueue vs delivery under sustained load",
        "",
        f"`POST .../resend-invite` at {settings['connections']} connections for "
        f"{settings['seconds']:.0f} s, {suite.get('rounds', 1)} round(s), subjects alternating; "
        f"the outbox sampled every {settings['interval']:.0f} s. Rates are means over the second "
        "half of the load; backlog growth is the least-squares slope of pending rows over that "
        "half, per second; drain is from the end of the load to the first sample with nothing pending "
        f"(given up after {settings['drain_seconds']:.0f} s). CPU per resend is the server's "
        "CPU over the whole run (load and drain) divided by the mails enqueued, when all were "
        "delivered: the request and its mail together.",
        "",
        "Medians over the rounds:",
        "",
        *_HEADER,
    ]
    lines += [
        _row(subject, [r for r in results if r["subject"] == subject]) for subject in subjects
    ]
    lines += ["", "Each round:", "", *_HEADER]
    lines += [_row(f"{r['subject']} #{r.get('round', 0) + 1}", [r]) for r in results]
    for r in results:
        if r.get("round", 0) != 0:
            continue
        lines += [
            "",
            f"### {r['subject']}, round 1, over time",
            "",
            "| t s | load | enqueued/s | sent/s | pending |",
            "| ---: | :---: | ---: | ---: | ---: |",
        ]
        lines += [
            f"| {s['t_s']:.0f} | {'on' if s['loading'] else 'off'} | {s['enqueued_per_s']:.0f} "
            f"| {s['sent_per_s']:.0f} | {s['pending']} |"
            for s in r["samples"]
        ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    from bench.run import main as run_main

    return run_main(["--suites", "outbox", *(argv or sys.argv[1:])])


if __name__ == "__main__":
    sys.exit(main())
