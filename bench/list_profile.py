"""Where the list's time goes (GET /customers/{customerID}/users), before and after a change.

For each user count, each subject (this checkout, and with `--before` an older tree installed by
bench/before.py) gets its own PostgreSQL database, migrated by its own `authsvc demo` and seeded
with the same users as bench/workers.py seeds them, then `VACUUM ANALYZE` (the state autovacuum
leaves a table in). Then, per subject:

- the SQL one list request issues (page users/40, the middle), captured in-process with its
  parameters and its time, each SELECT under `EXPLAIN (ANALYZE, BUFFERS)`;
- `authsvc serve --workers 1 --no-mail-loop` driven by wrk like bench/workers.py (pages 1 to
  users/20 in turn, 16 connections): req/s, p99, CPU per request, `--rounds` times, the subjects
  alternating so that other work on the machine falls on both;
- with py-spy installed, one more load pass under `py-spy record --idle --threads`: wall-clock
  samples of every thread, summed by thread role and by the innermost frame of the service's
  own code (and whether the thread was waiting on PostgreSQL there).

    python -m bench.list_profile [--before TREE] [--users 1000,100000] [--seconds 10]
        [--rounds 2] [--connections 16] [--database-url URL]

`--before TREE`: a source tree of the older code (`git archive <commit> | tar -x -C TREE`).
`--database-url`: a running server to create (and afterwards drop) this run's own databases in;
without it a private cluster is started (bench/service.py). Writes
bench/results/<date>-list-profile.json and prints Markdown tables; the write-up is by hand.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import datetime as dt
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import httpx

from bench.load import Target, run_load
from bench.machine import loadavg
from bench.procs import Server, free_port, spawned
from bench.service import BENCH_ROOT, postgres_cluster
from bench.workers import API, OUT_OF_REACH, SAMPLE_PATHS, drive, seed_users

RESULTS = Path(__file__).resolve().parent / "results"
THIS = "service"
BEFORE = "service@before"


def _plain(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://")


@contextmanager
def databases(server_url: str | None) -> Iterator[Any]:
    """A function making a fresh database on the server (or a private cluster); dropped after."""
    import psycopg

    with ExitStack() as stack:
        if server_url is None:
            server_url = stack.enter_context(postgres_cluster())
            if server_url is None:
                raise SystemExit("PostgreSQL is needed (initdb/pg_ctl, or --database-url)")
        made: list[str] = []

        def make(name: str) -> str:
            name = f"list_profile_{os.getpid()}_{name}"
            with psycopg.connect(_plain(server_url), autocommit=True) as connection:
                connection.execute(f'CREATE DATABASE "{name}"')  # our own name, made above
            made.append(name)
            return server_url.rsplit("/", 1)[0] + "/" + name

        try:
            yield make
        finally:
            with psycopg.connect(_plain(server_url), autocommit=True) as connection:
                for name in made:  # only the databases this run created
                    connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def prepare(bin_dir: Path, url: str, data_dir: Path, users: int) -> dict[str, Any]:
    """Migrate and seed one subject's database; its demo info (customer, admin token)."""
    import psycopg

    env = {k: v for k, v in os.environ.items() if not k.startswith("AUTHSVC_")}
    demo = subprocess.run(
        [str(bin_dir / "authsvc"), "demo", "--data-dir", str(data_dir), "--json"],
        capture_output=True, text=True, check=True, timeout=120, cwd=BENCH_ROOT,
        env={**env, "AUTHSVC_DATABASE_URL": url},
    )  # fmt: skip
    info: dict[str, Any] = json.loads(demo.stdout)
    seed_users(url, info["customer_id"], users)
    with psycopg.connect(_plain(url), autocommit=True) as connection:
        connection.execute("VACUUM ANALYZE users")
    return info


def explain_main(data_dir: str, page: int) -> None:
    """In the subject's interpreter: one list request in-process, its SQL explained, as JSON."""
    os.environ.setdefault("AUTHSVC_LOG_LEVEL", "WARNING")
    from sqlalchemy import event

    from authsvc.config import load_settings
    from authsvc.factory import build_services, create_app

    info = json.loads((Path(data_dir) / "bench-demo.json").read_text())
    settings = load_settings(data_dir=Path(data_dir))
    services = build_services(settings)
    app = create_app(settings, services=services)
    statements: list[dict[str, Any]] = []

    @event.listens_for(services.engine, "before_cursor_execute")
    def _started(conn: Any, _cursor: Any, _sql: str, _params: Any, _ctx: Any, _many: bool) -> None:
        conn.info["bench_started"] = time.perf_counter()

    @event.listens_for(services.engine, "after_cursor_execute")
    def _ended(conn: Any, _cursor: Any, sql: str, params: Any, _ctx: Any, _many: bool) -> None:
        took = time.perf_counter() - conn.info["bench_started"]
        statements.append({"sql": sql, "params": params, "ms": took * 1000})

    async def request() -> dict[str, Any]:
        path = f"{API}/customers/{info['customer_id']}/users?page={page}"
        headers = {"Authorization": f"Bearer {info['admin_token']}"}
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://s") as client:
            for _ in range(3):  # the last one counts: plans and caches warm
                statements.clear()
                started = time.perf_counter()
                response = await client.get(path, headers=headers)
                took = time.perf_counter() - started
        response.raise_for_status()
        return {"status": response.status_code, "ms": took * 1000}

    answer = asyncio.run(request())
    with services.engine.connect() as connection:
        raw: Any = connection.connection.driver_connection
        for statement in statements:
            if statement["sql"].lstrip().upper().startswith("SELECT"):
                plan = raw.execute(
                    "EXPLAIN (ANALYZE, BUFFERS) " + statement["sql"], statement["params"]
                ).fetchall()
                statement["plan"] = "\n".join(row[0] for row in plan)
        connection.rollback()
    services.close()
    for statement in statements:
        statement["params"] = {k: str(v) for k, v in (statement["params"] or {}).items()}
    print(json.dumps({"request": answer, "statements": statements}))


def explain(bin_dir: Path, data_dir: Path, url: str, users: int) -> dict[str, Any]:
    """`explain_main` run by the subject's own interpreter (its authsvc, this bench package)."""
    out = subprocess.run(
        [str(bin_dir / "python"), "-m", "bench.list_profile", "--explain-data-dir",
         str(data_dir), "--explain-page", str(max(1, users // 40))],
        capture_output=True, text=True, check=True, timeout=300, cwd=BENCH_ROOT,
        env={**os.environ, **OUT_OF_REACH, "AUTHSVC_DATABASE_URL": url},
    )  # fmt: skip
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


@contextmanager
def serve(name: str, bin_dir: Path, url: str, data_dir: Path, log_dir: Path) -> Iterator[Server]:
    port = free_port()
    command = [
        str(bin_dir / "authsvc"), "serve", "--data-dir", str(data_dir), "--port", str(port),
        "--workers", "1", "--no-mail-loop",
    ]  # fmt: skip
    ready = httpx.Request("GET", f"http://127.0.0.1:{port}/readyz")
    env = {**OUT_OF_REACH, "AUTHSVC_DATABASE_URL": url}
    with spawned(
        name, command, port=port, ready=ready, log_dir=log_dir, env=env, cwd=BENCH_ROOT,
        timeout=120,
    ) as server:  # fmt: skip
        try:
            yield server
        except RuntimeError:
            tail = server.log.read_text(errors="replace")[-3000:]
            print(
                f"{name} (exit {server.process.poll()}), its log's tail:\n{tail}", file=sys.stderr
            )
            raise


def list_target(server: Server, info: dict[str, Any], users: int) -> Target:
    """Pages 1 to users/20 in turn, as bench/workers.py drives list."""
    root = f"{API}/customers/{info['customer_id']}"
    pages = max(1, users // 20)
    return Target(
        server.base_url + root + "/users",
        headers=(("Authorization", f"Bearer {info['admin_token']}"),),
        paths=tuple(f"{root}/users?page={1 + i % pages}" for i in range(SAMPLE_PATHS)),
    )


def py_spy_profile(
    server: Server, target: Target, *, connections: int, seconds: float
) -> dict[str, Any] | None:
    """Wall-clock samples of every thread of the service under load; None without py-spy."""
    py_spy = shutil.which("py-spy") or shutil.which("py-spy", path=str(Path(sys.executable).parent))
    if py_spy is None:
        return None
    with tempfile.TemporaryDirectory(prefix="authsvc-bench-spy-") as scratch:
        raw = Path(scratch) / "raw.txt"
        spy = subprocess.Popen(
            [py_spy, "record", "--pid", str(server.process.pid), "--subprocesses", "--idle",
             "--threads", "--rate", "200", "--format", "raw", "--duration", str(int(seconds)),
             "--output", str(raw)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        load = run_load(target, connections=connections, seconds=seconds + 2, tool="wrk")
        spy.wait(timeout=60)
        summary = summarize(raw.read_text()) if raw.exists() else None
    if summary is not None:
        summary["load_rps"] = load.rps
    return summary


_OWN_FRAME = re.compile(r"^(\S+) \(authsvc/([^:]+):(\d+)\)$")
_DB_WAIT = ("Connection.wait (psycopg/",)
_LOOP_IDLE = ("EpollSelector.select", "select (selectors.py")


def summarize(raw: str) -> dict[str, Any]:
    """py-spy's collapsed stacks summed by thread role, and by innermost frame of our own code."""
    roles: collections.Counter[str] = collections.Counter()
    own: collections.Counter[str] = collections.Counter()
    leaves: collections.Counter[str] = collections.Counter()
    total = 0
    for line in raw.splitlines():
        stack, _, count = line.rpartition(" ")
        frames, samples = stack.split(";"), int(count)
        total += samples
        # `process ...` (with --subprocesses) and `thread (...)` lead each stack
        named = " ".join(frames[:2])
        role = "event loop (main thread)" if "MainThread" in named else "database threads"
        roles[role] += samples
        leaf = frames[-1]
        leaves[leaf] += samples
        innermost = next((f for f in reversed(frames) if _OWN_FRAME.match(f)), None)
        if leaf.startswith(_LOOP_IDLE) and role.startswith("event loop"):
            where = "event loop idle (selector wait)"
        elif innermost is None:
            where = f"{role}: outside the service's code"
        elif innermost.startswith("WorkerThreads._work "):
            where = f"{role}: idle (waiting for work)"
        else:
            waiting = " [waiting on PostgreSQL]" if leaf.startswith(_DB_WAIT) else ""
            where = f"{role}: {innermost}{waiting}"
        own[where] += samples
    return {
        "samples": total,
        "roles": dict(roles.most_common()),
        "own_frames": dict(own.most_common(25)),
        "leaf_frames": dict(leaves.most_common(15)),
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    counts = [int(u) for u in args.users.split(",")]
    data: dict[str, Any] = {
        "run": {"loadavg": loadavg(), "at": dt.datetime.now(dt.UTC).isoformat()},
        "connections": args.connections, "seconds": args.seconds, "rounds": args.rounds,
        "explain": [], "load": [], "profiles": [],
    }  # fmt: skip
    with ExitStack() as stack:
        subjects: dict[str, Path] = {THIS: Path(sys.executable).parent}
        if args.before is not None:
            from bench.before import installed

            subjects = {BEFORE: stack.enter_context(installed(args.before)), **subjects}
        make = stack.enter_context(databases(args.database_url))
        scratch = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="authsvc-bench-")))
        for users in counts:
            prepared: dict[str, tuple[str, Path, dict[str, Any]]] = {}
            for subject, bin_dir in subjects.items():
                label = f"{'before' if subject == BEFORE else 'after'}_{users}"
                url, data_dir = make(label), scratch / label
                info = prepare(bin_dir, url, data_dir, users)
                (data_dir / "bench-demo.json").write_text(json.dumps(info))
                prepared[subject] = (url, data_dir, info)
                found = explain(bin_dir, data_dir, url, users)
                data["explain"].append({"users": users, "subject": subject, **found})
                print(f"explained {subject} at {users} users", flush=True)
            for round_ in range(args.rounds):
                for subject, (url, data_dir, info) in prepared.items():
                    with serve(subject, subjects[subject], url, data_dir, scratch) as server:
                        target = list_target(server, info, users)
                        load = drive(
                            server, target, connections=args.connections, seconds=args.seconds
                        )
                        sample = {"users": users, "subject": subject, "round": round_, **load}
                        data["load"].append(sample)
                        print(json.dumps(sample), flush=True)
                        if round_ == args.rounds - 1 and args.profile_seconds > 0:
                            profile = py_spy_profile(
                                server, target, connections=args.connections,
                                seconds=args.profile_seconds,
                            )  # fmt: skip
                            if profile is not None:
                                data["profiles"].append(
                                    {"users": users, "subject": subject, **profile}
                                )
    data["run"]["loadavg_after"] = loadavg()
    return data


def report(data: dict[str, Any]) -> str:
    lines = [
        "| users | subject | round | req/s | p50 ms | p99 ms | CPU ms/req |",
        "| ---: | --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for s in data["load"]:
        lines.append(
            f"| {s['users']} | {s['subject']} | {s['round'] + 1} | {s['rps']:.0f} | "
            f"{s['p50_ms']:.1f} | {s['p99_ms']:.1f} | {s['cpu_ms_per_request']:.2f} |"
        )
    for found in data["explain"]:
        lines.append(f"\n{found['subject']}, {found['users']} users: {found['request']}")
        for statement in found["statements"]:
            lines.append(f"  {statement['ms']:.2f} ms  {' '.join(statement['sql'].split())[:150]}")
    for profile in data["profiles"]:
        lines.append(f"\npy-spy {profile['subject']}, {profile['users']} users:")
        total = profile["samples"]
        for where, count in profile["own_frames"].items():
            lines.append(f"  {100 * count / total:5.1f}%  {where}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--before", type=Path, default=None)
    parser.add_argument("--users", default="1000,100000")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--profile-seconds", type=float, default=10.0)
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--explain-data-dir", help=argparse.SUPPRESS)  # the subprocess's mode
    parser.add_argument("--explain-page", type=int, default=1, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.explain_data_dir:
        explain_main(args.explain_data_dir, args.explain_page)
        return
    data = run(args)
    RESULTS.mkdir(exist_ok=True)
    day = dt.date.today().isoformat()
    (RESULTS / f"{day}-list-profile.json").write_text(json.dumps(data, indent=2))
    print(report(data))


if __name__ == "__main__":
    main()
