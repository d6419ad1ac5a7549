"""The schemathesis CLI against the real service and the mock: `python -m tests.schemathesis.run_live`.

For each target — `authsvc serve` on a fresh data directory (`live`), and `authsvc mock` on the
contract in static and dynamic mode — it runs schemathesis with every check, every phase, positive
and negative data, real tokens, and the hooks in `tests/schemathesis/hooks.py`. The service runs
twice, with a fixed seed and a random one (printed, and accepted back with `--seed`); the mock runs
once per mode, static with the fixed seed and dynamic with the random one (its engine is fuzzed
in-process too, tests/mock/test_schemathesis.py; `--every-seed` runs both seeds on every target).
It passes when every run has zero failures and reached the statuses each target must show; JUnit
reports and a summary go to `reports/`.

    python -m tests.schemathesis.run_live [--seed N] [--examples N] [--target live] [--workers N]
        [--every-seed]
"""

from __future__ import annotations

import argparse
import email
import email.policy
import json
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx

from tests.support.processes import REPO, free_port, run_demo, running, service_env

FIXED_SEED = 20250401
CONFIG = REPO / "schemathesis.toml"  # the project's settings, shared with a plain CLI run
CONTRACT = REPO / "openapi" / "auth-service.yaml"
API = "/auth/api/v1"
TARGETS = ("live", "mock-static", "mock-dynamic")
EVERY_STATUS = frozenset({200, 400, 401, 403, 404, 429})
INVITE_LINK = re.compile(r"/invite/([A-Za-z0-9_-]{20,})")
RESET_LINK = re.compile(r"/reset-password\?token=([A-Za-z0-9_-]{20,})")
# Resends per user and window: low enough that the aimed cases hit 429, short enough that most
# of them still get a 200 (the window keeps sliding during the run).
# The customer's invitation mails and the accept attempts per address are out of the run's reach:
# every request comes from one address and one customer, and create's positive cases must be 200
# (their 429s are held by tests/api/test_throttle.py).
# Sign-in failures and forgot requests likewise (the aimed sign-ins must get their 200, the aimed
# forgots their mail; tests/api/test_sign_in_throttle.py holds those 429s).
LIVE_SETTINGS = {
    "AUTHSVC_RESEND_LIMIT": "5",
    "AUTHSVC_RESEND_WINDOW_SECONDS": "2",
    "AUTHSVC_INVITE_MAIL_LIMIT": "1000000",
    "AUTHSVC_ACCEPT_LIMIT": "1000000",
    "AUTHSVC_SIGN_IN_ADDRESS_LIMIT": "1000000",
    "AUTHSVC_FORGOT_LIMIT": "1000000",
    "AUTHSVC_FORGOT_ADDRESS_LIMIT": "1000000",
    "AUTHSVC_OUTBOX_POLL_SECONDS": "0.2",
}


@dataclass
class Target:
    name: str
    location: str  # the schema: served by the service, or the contract file for the mock
    base_url: str | None
    token: str
    demo_file: Path | None
    log_path: Path
    mail_dir: Path | None = None


@dataclass
class RunResult:
    target: str
    seed: int
    exit_code: int
    seconds: float
    junit: str
    tests: int = 0
    failures: int = 0
    errors: int = 0
    statuses: dict[int, int] = field(default_factory=dict)
    missing: list[int] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def requests(self) -> int:
        return sum(self.statuses.values())

    @property
    def ok(self) -> bool:
        return not self.problems


def schemathesis_bin() -> str:
    beside = Path(sys.executable).with_name("schemathesis")
    return str(beside) if beside.exists() else shutil.which("schemathesis") or "schemathesis"


@contextmanager
def started(name: str, workdir: Path, reports: Path) -> Iterator[Target]:
    """The target `name` running on a free loopback port, stopped on exit."""
    port = free_port()
    log_path = reports / f"contract-{name}.log"
    if name == "live":
        data_dir = workdir / "live-data"
        args = ["serve", "--data-dir", str(data_dir), "--port", str(port)]
        with running(
            args, log_path=log_path, settings=LIVE_SETTINGS, port=port, ready_path="/healthz"
        ) as proc:
            demo = json.loads(run_demo(data_dir, proc.base_url))
            demo["subroles"] = _subroles(proc.base_url, demo)
            demo_file = workdir / "demo.json"
            demo_file.write_text(json.dumps(demo))
            yield Target(
                name,
                proc.base_url + API + "/openapi.json",
                None,
                demo["admin_token"],
                demo_file,
                log_path,
                data_dir / "mail",
            )
        return
    args = ["mock", str(CONTRACT), "--port", str(port), "--no-watch"]
    if name == "mock-dynamic":
        args += ["--dynamic", "--seed", "1"]
    with running(args, log_path=log_path, port=port, ready_path="/") as proc:
        yield Target(
            name, str(CONTRACT), proc.base_url, "any-token-passes-the-mock", None, log_path
        )


def _subroles(base_url: str, demo: dict[str, Any]) -> list[dict[str, Any]]:
    """Acme's subroles, as a client reads them before creating a user."""
    response = httpx.get(
        f"{base_url}{API}/customers/{demo['customer_id']}/subroles",
        headers={"Authorization": f"Bearer {demo['admin_token']}"},
        timeout=10,
    )
    response.raise_for_status()
    return list(response.json()["data"])


def run_schemathesis(
    target: Target, *, seed: int, examples: int, workers: int, workdir: Path, reports: Path
) -> RunResult:
    """One schemathesis CLI run; the result says what it found and what it reached."""
    junit = reports / f"contract-{target.name}-seed{seed}.xml"
    status_file = workdir / f"statuses-{target.name}-{seed}.txt"
    status_file.unlink(missing_ok=True)
    command = [
        schemathesis_bin(),
        "--config-file",
        str(CONFIG),
        "run",
        target.location,
        "--checks",
        "all",
        "--phases",
        "examples,coverage,fuzzing,stateful",
        "--mode",
        "all",
        "--seed",
        str(seed),
        "--max-examples",
        str(examples),
        "--workers",
        str(workers),
        "--report",
        "junit",
        "--report-junit-path",
        str(junit),
    ]
    if target.base_url:  # the mock: the contract file, served at the root like Prism does
        # Like Prism, the mock accepts any well-formed bearer token (unless run with
        # --verify-jwt), so `ignored_auth` would only re-discover that documented behaviour.
        command += ["--url", target.base_url, "--exclude-checks", "ignored_auth"]
    env = service_env(
        {
            "SCHEMATHESIS_HOOKS": "tests.schemathesis.hooks",
            "CONTRACT_TARGET": "mock" if target.name.startswith("mock") else "live",
            "CONTRACT_STATUS_FILE": str(status_file),
            "CONTRACT_DEMO_FILE": str(target.demo_file or ""),
            "CONTRACT_MAIL_DIR": str(target.mail_dir or ""),
            "CONTRACT_TOKEN": target.token,
            "CONTRACT_API_URL": ""
            if target.base_url
            else target.location.removesuffix("/openapi.json"),
        }
    )
    env["PYTHONPATH"] = str(REPO)
    print(f"\n== schemathesis: {target.name}, seed {seed}", flush=True)
    started_at = time.monotonic()
    exit_code = subprocess.run(command, env=env, cwd=REPO, timeout=600, check=False).returncode
    result = RunResult(target.name, seed, exit_code, time.monotonic() - started_at, str(junit))
    _read_junit(result, junit)
    statuses = Counter(int(line) for line in _lines(status_file))
    result.statuses = dict(sorted(statuses.items()))
    result.missing = sorted(EVERY_STATUS - set(statuses))
    if exit_code != 0:
        result.problems.append(f"schemathesis exited with {exit_code}")
    if result.failures or result.errors:
        result.problems.append(f"{result.failures} failures, {result.errors} errors in JUnit")
    if result.missing:
        result.problems.append(f"statuses never reached: {result.missing}")
    if any(status >= 500 for status in statuses):
        result.problems.append("a 5xx was answered")
    return result


def _lines(path: Path) -> list[str]:
    return path.read_text().split() if path.exists() else []


def _read_junit(result: RunResult, path: Path) -> None:
    if not path.exists():
        result.problems.append("no JUnit report written")
        return
    root = ET.parse(path).getroot()
    suites = [root] if root.tag == "testsuite" else list(root.iter("testsuite"))
    for suite in suites:
        result.tests += int(suite.get("tests", 0))
        result.failures += int(suite.get("failures", 0))
        result.errors += int(suite.get("errors", 0))


def check_service_log(target: Target) -> list[str]:
    """What the service's own log says went wrong: a traceback, an unhandled error, a secret.

    Every invite and reset token the run's mails carried is looked for in the log: the accept
    path carries one, reset bodies the other, and the run used some of each.
    """
    text = target.log_path.read_text(errors="replace")
    problems = []
    if "Traceback" in text:
        problems.append(f"traceback in {target.log_path.name}")
    if " ERROR " in text:
        problems.append(f"ERROR lines in {target.log_path.name}")
    tokens = invite_tokens(target.mail_dir) if target.mail_dir else set()
    resets = invite_tokens(target.mail_dir, RESET_LINK) if target.mail_dir else set()
    leaked = sum(token in text for token in tokens | resets)
    if leaked:
        problems.append(
            f"{leaked} of {len(tokens | resets)} invite and reset tokens in {target.log_path.name}"
        )
    if target.mail_dir and not tokens:
        problems.append("no invite mail was written: the create/resend cases never succeeded")
    return problems


def invite_tokens(mail_dir: Path, link: re.Pattern[str] = INVITE_LINK) -> set[str]:
    """The token of every invite link (or other `link`) in the mail folder's .eml files."""
    found: set[str] = set()
    for path in mail_dir.glob("*.eml"):
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        body = message.get_body(("plain",))
        if body is not None:
            found.update(link.findall(body.get_content()))
    return found


def seeds_for(target: str, second: int, *, every: bool) -> tuple[int, ...]:
    """The seeds a target runs with: both for the service, one per mock mode (CI's budget)."""
    if every or target == "live":
        return tuple(dict.fromkeys((FIXED_SEED, second)))
    return (FIXED_SEED,) if target == "mock-static" else (second,)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m tests.schemathesis.run_live", description=__doc__
    )
    parser.add_argument("--seed", type=int, help="the second seed (default: random, printed)")
    # 200 a operation: ~1,900 requests a live run, every status reached; 400 doubled the time for
    # no new status or failure class (CI budget: 20 minutes for everything).
    parser.add_argument("--examples", type=int, default=200, help="max examples per operation")
    # One worker: with two, the coverage phase's hypothesis parses source from two threads at once
    # and CPython 3.11 fails it ("AST constructor recursion depth mismatch", a runtime error).
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--target", action="append", choices=TARGETS, help="default: all")
    parser.add_argument("--reports", type=Path, default=REPO / "reports")
    parser.add_argument(
        "--every-seed", action="store_true", help="both seeds on the mock targets too"
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    second = args.seed if args.seed is not None else random.SystemRandom().randrange(1, 2**31)
    print(f"contract run: fixed seed {FIXED_SEED}, second seed {second} (rerun: --seed {second})")
    reports: Path = args.reports
    reports.mkdir(parents=True, exist_ok=True)
    results: list[RunResult] = []
    started_at = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="authsvc-contract-") as tmp:
        workdir = Path(tmp)
        for name in args.target or TARGETS:
            with started(name, workdir, reports) as target:
                for seed in seeds_for(name, second, every=args.every_seed):
                    results.append(
                        run_schemathesis(
                            target,
                            seed=seed,
                            examples=args.examples,
                            workers=args.workers,
                            workdir=workdir,
                            reports=reports,
                        )
                    )
            if name == "live":
                results[-1].problems += check_service_log(target)
    total = time.monotonic() - started_at
    summary = {
        "seeds": [FIXED_SEED, second],
        "seconds": round(total, 1),
        "runs": [{**asdict(r), "requests": r.requests, "ok": r.ok} for r in results],
    }
    (reports / "contract-summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(f"\n== contract summary ({total:.0f}s; second seed {second})")
    for r in results:
        verdict = "ok" if r.ok else "FAILED: " + "; ".join(r.problems)
        print(
            f"  {r.target:<13} seed {r.seed:<11} {r.requests:>5} requests "
            f"{r.seconds:>5.1f}s statuses {r.statuses}  {verdict}"
        )
    return 0 if all(r.ok for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
