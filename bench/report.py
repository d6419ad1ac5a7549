"""Render a results dict as Markdown: medians over rounds, ratios against same-run baselines."""

from __future__ import annotations

import statistics
from collections import defaultdict
from typing import Any


def _median_loads(samples: list[dict[str, Any]]) -> dict[str, dict[int, dict[str, float]]]:
    """subject -> connections -> median of rps, p50, p99, rss over the rounds."""
    grouped: dict[str, dict[int, list[dict[str, Any]]]] = defaultdict(lambda: defaultdict(list))
    for sample in samples:
        for load in sample["loads"]:
            grouped[sample["subject"]][load["connections"]].append(load)
    return {
        subject: {
            conns: {
                key: statistics.median(x[key] for x in loads)
                for key in ("rps", "p50_ms", "p99_ms", "rss_mb", "cpu_ms_per_request")
                if all(x.get(key) is not None for x in loads)
            }
            for conns, loads in by_conns.items()
        }
        for subject, by_conns in grouped.items()
    }


def _cpu(m: dict[str, float]) -> str:
    return f"{m['cpu_ms_per_request']:.2f}" if "cpu_ms_per_request" in m else "-"


def _median_of(samples: list[dict[str, Any]], subject: str, key: str) -> float | None:
    values = [s[key] for s in samples if s["subject"] == subject]
    return statistics.median(values) if values else None


def _load_table(samples: list[dict[str, Any]], baseline: str) -> list[str]:
    medians = _median_loads(samples)
    base = medians.get(baseline, {})
    lines = [
        "| subject | conns | req/s | p50 ms | p99 ms | CPU ms/req | RSS MB | req/s ratio | p99 ratio |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for subject, by_conns in medians.items():
        for conns, m in sorted(by_conns.items()):
            b = base.get(conns)
            rps_ratio = f"{m['rps'] / b['rps']:.3f}x" if b else "-"
            p99_ratio = f"{m['p99_ms'] / b['p99_ms']:.2f}x" if b and b["p99_ms"] else "-"
            lines.append(
                f"| {subject} | {conns} | {m['rps']:.0f} | {m['p50_ms']:.2f} | {m['p99_ms']:.2f} "
                f"| {_cpu(m)} | {m['rss_mb']:.0f} | {rps_ratio} | {p99_ratio} |"
            )
    return lines


def _startup_lines(samples: list[dict[str, Any]]) -> list[str]:
    subjects = dict.fromkeys(s["subject"] for s in samples)
    lines = ["| subject | startup s (median) | peak RSS MB |", "| --- | ---: | ---: |"]
    for subject in subjects:
        startup = _median_of(samples, subject, "startup_s") or 0.0
        peak = _median_of(samples, subject, "peak_rss_mb") or 0.0
        lines.append(f"| {subject} | {startup:.2f} | {peak:.0f} |")
    return lines


def render(results: dict[str, Any]) -> str:
    """The whole report; every ratio compares figures taken in this run."""
    m = results["machine"]
    out = [
        f"# Benchmark results ({results['mode']}, {results['started']})",
        "",
        f"Machine: {m['cpu']}, {m['cores']} cores, {m['memory_gb']} GB RAM, Linux {m['kernel']}, "
        f"Python {m['python']}; load average at start {m['loadavg_at_start']}, "
        f"at end {m.get('loadavg_at_end')} (the cores are shared with other work).",
        f"Software: {', '.join(f'{k} {v}' for k, v in m['packages'].items())}; "
        f"wrk: {m['wrk'] or 'absent (Python load loop)'}; node {m['node']}; Prism {m['prism']}; "
        f"{m['postgres']}.",
        "",
        f"Settings: {results['settings']['rounds']} rounds (medians shown), "
        f"{results['settings']['seconds']} s per load point after {results['settings']['warmup']} s "
        "warm-up, one uvicorn worker (asyncio event loop, as `authsvc serve`; the mock: uvicorn's default, uvloop when installed), "
        "load generator on the same 2 cores (1 wrk thread), "
        "`AUTHSVC_RESEND_LIMIT=1000000000` and `AUTHSVC_RESEND_WINDOW_SECONDS=1` so no request is "
        "throttled (every request resends to the same demo user).",
        "",
    ]
    if "service" in results:
        samples = results["service"]["samples"]
        out += ["## 1. Service: POST resend-invite end to end vs bare Starlette", ""]
        out += [*_load_table(samples, "baseline"), "", "Startup (spawn to healthy):", ""]
        out += [*_startup_lines(samples), ""]
        out += _before_after(samples)
    if "mock" in results:
        mock = results["mock"]
        out += ["## 2. Mock server: authsvc mock vs Prism (16 connections)", ""]
        if mock.get("skipped"):
            out += [f"Prism skipped: {mock['skipped']}", ""]
        baseline = "prism-silent" if not mock.get("skipped") else "authsvc-mock"
        out += [f"Ratios against `{baseline}`.", ""]
        out += [*_load_table(mock["samples"], baseline), "", "Startup (spawn to first 200):", ""]
        out += [*_startup_lines(mock["samples"]), ""]
    if "router" in results:
        r = results["router"]["median_us"]
        out += ["## 3. respx router: microseconds per httpx call (median of rounds)", ""]
        out += ["| answered by | us/call | ratio to floor |", "| --- | ---: | ---: |"]
        for key in ("floor", "router", "network"):
            if key in r:
                out.append(f"| {key} | {r[key]:.0f} | {r[key] / r['floor']:.2f}x |")
        out.append("")
    if "contract" in results:
        c = results["contract"]
        runs = ", ".join(f"{r['seconds']:.1f}" for r in c["runs"])
        out += [
            "## 4. Contract test time (startup is in sections 1 and 2)",
            "",
            f"schemathesis CLI, {c['examples']} examples per operation, seed 1, one worker, "
            f"against the live service (SQLite): median {c['median_s']:.1f} s "
            f"(runs: {runs}; "
            f"exit codes {[r['exit_code'] for r in c['runs']]}).",
            "",
        ]
    if "breakdown" in results:
        b = results["breakdown"]["median_cpu_us"]
        base = next(iter(b.values()))
        out += [
            "## 5. Where a resend request's time goes (in-process CPU, median of rounds)",
            "",
            "| layer | CPU us/request | x bare Starlette |",
            "| --- | ---: | ---: |",
        ]
        out += [f"| {name} | {value:.0f} | {value / base:.1f}x |" for name, value in b.items()]
        out.append("")
    out += _targets(results)
    out.append(f"Total bench time: {results.get('elapsed_s')} s.")
    return "\n".join(out) + "\n"


def _before_after(samples: list[dict[str, Any]]) -> list[str]:
    return _pairs(
        samples,
        "@before",
        "Before/after (same run; `@before` is the tree given to `--before`):",
        ("after / before", "after / before"),
    ) + _pairs(
        samples,
        "-normal",
        "SQLite durability (same run): `synchronous=FULL`, the default, against `-normal`:",
        ("FULL / NORMAL", "FULL / NORMAL"),
    )


def _pairs(
    samples: list[dict[str, Any]], suffix: str, title: str, heads: tuple[str, str]
) -> list[str]:
    medians = _median_loads(samples)
    pairs = [(s, s + suffix) for s in medians if s + suffix in medians]
    if not pairs:
        return []
    lines = [
        title,
        "",
        f"| subject | conns | req/s {heads[0]} | p99 {heads[1]} | CPU/req {heads[0]} |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for subject, other in pairs:
        for conns, m in sorted(medians[subject].items()):
            b = medians[other].get(conns)
            if b:
                cpu = (
                    f"{m['cpu_ms_per_request'] / b['cpu_ms_per_request']:.2f}x"
                    if "cpu_ms_per_request" in m and "cpu_ms_per_request" in b
                    else "-"
                )
                lines.append(
                    f"| {subject} | {conns} | {m['rps'] / b['rps']:.2f}x "
                    f"| {m['p99_ms'] / b['p99_ms']:.2f}x | {cpu} |"
                )
    return [*lines, ""]


def _targets(results: dict[str, Any]) -> list[str]:
    """The issue's targets next to this run's figures; reported, never asserted."""
    rows: list[tuple[str, str, bool]] = []
    if "service" in results:
        m = _median_loads(results["service"]["samples"])
        base = m.get("baseline", {}).get(16)
        for subject, label in (
            ("service-sqlite", "service SQLite"),
            ("service-sqlite-nodelivery", "service SQLite, mail delivered elsewhere"),
        ):
            sub = m.get(subject, {}).get(16)
            if not (sub and base):
                continue
            rps, p99 = sub["rps"] / base["rps"], sub["p99_ms"] / base["p99_ms"]
            rows.append((f"{label}, 16 conns: req/s >= 0.25x baseline", f"{rps:.3f}x", rps >= 0.25))
            rows.append((f"{label}, 16 conns: p99 <= 4x baseline", f"{p99:.1f}x", p99 <= 4))
    if "mock" in results and not results["mock"].get("skipped"):
        samples = results["mock"]["samples"]
        m = _median_loads(samples)
        mock, silent, noisy = (m[k][16] for k in ("authsvc-mock", "prism-silent", "prism"))
        startup = _median_of(samples, "authsvc-mock", "startup_s") or 0.0
        peak = _median_of(samples, "authsvc-mock", "peak_rss_mb") or 0.0
        rows += [
            ("mock req/s >= 2x Prism (silenced)", f"{mock['rps'] / silent['rps']:.2f}x",
             mock["rps"] >= 2 * silent["rps"]),
            ("mock req/s >= 4x Prism (default logging)", f"{mock['rps'] / noisy['rps']:.2f}x",
             mock["rps"] >= 4 * noisy["rps"]),
            ("mock p99 lower than Prism (silenced)", f"{mock['p99_ms']:.1f} vs {silent['p99_ms']:.1f} ms",
             mock["p99_ms"] < silent["p99_ms"]),
            ("mock startup <= 0.3 s", f"{startup:.2f} s", startup <= 0.3),
            ("mock RSS <= 80 MB", f"{peak:.0f} MB", peak <= 80),
        ]  # fmt: skip
    if "router" in results:
        r = results["router"]["median_us"]
        ratio = r["router"] / r["floor"]
        rows.append(("respx router within 2x of the bare respx floor", f"{ratio:.2f}x", ratio <= 2))
    if not rows:
        return []
    lines = ["## Targets (issue 5)", "", "| target | this run | met |", "| --- | ---: | :---: |"]
    lines += [f"| {name} | {value} | {'yes' if met else 'no'} |" for name, value, met in rows]
    return [*lines, ""]
