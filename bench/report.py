"""Turn the benchmark's results into markdown: the machine, the figures, the targets and the CPU use."""

import datetime
import os
import platform
import re
import statistics
import subprocess
import sys

from bench.servers import REPO_ROOT

DOCS_PATH = REPO_ROOT / "docs" / "benchmarks.md"

CPU_PARTS = ("web", "redis", "worker", "postgres", "load", "other")


def _output(command):
    try:
        return subprocess.run(command, capture_output=True, text=True, timeout=10, cwd=REPO_ROOT).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def machine_facts(postgres_version, gunicorn_options):
    cpu_model = re.search(r"Model name:\s*(.+)", _output(["lscpu"]))
    memory = re.search(r"Mem:\s+(\d+)", _output(["free", "-m"]))
    commit = _output(["git", "rev-parse", "--short", "HEAD"])
    if _output(["git", "status", "--porcelain", "--untracked-files=no"]):
        commit += " (with uncommitted changes)"
    wrk_version = re.search(r"wrk (\S+)", _output(["wrk", "-v"]))
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "commit": commit,
        "cpus": _output(["nproc"]),
        "cpu_model": cpu_model.group(1).strip() if cpu_model else "unknown",
        "memory_mib": memory.group(1) if memory else "unknown",
        "kernel": platform.release(),
        "python": platform.python_version(),
        "redis": _output(["redis-server", "--version"]).split(" sha=")[0],
        "postgres": postgres_version,
        "wrk": wrk_version.group(1) if wrk_version else "unknown",
        "gunicorn_options": " ".join(gunicorn_options),
    }


def command_line():
    """Return the command that started this run, as the user typed it when bench/run set BENCH_COMMAND."""
    return os.environ.get("BENCH_COMMAND") or " ".join(
        [os.path.relpath(sys.executable, REPO_ROOT), "-m", "bench", *sys.argv[1:]]
    )


def _ms(value):
    return f"{value:.2f} ms"


def _rate(value):
    return f"{value:,.0f}/s"


def _median(values):
    return statistics.median(values)


def _spread(values, fmt):
    """Return 'median (min to max)' of values, or the single value."""
    if len(values) == 1:
        return fmt(values[0])
    return f"{fmt(_median(values))} ({fmt(min(values))} to {fmt(max(values))})"


class Summary:
    """The medians over rounds that the tables show."""

    def __init__(self, results):
        self.results = results
        rounds = results["rounds"]
        self.rates = {mode: [measured[mode].requests_per_second for measured in rounds] for mode in ("bare", "award", "top", "rank")}
        self.ratios = {
            mode: [measured[mode].requests_per_second / measured["bare"].requests_per_second for measured in rounds]
            for mode in ("award", "top", "rank")
        }
        self.half_rate_ratios = [measured["half_rate"].latency_p99_ms / measured["half_rate"].latency_p50_ms for measured in rounds]
        latency_rounds = results["latency_rounds"]
        self.scale_ratios = {
            (mode, kind): [figures[f"large_{mode}_{kind}"][0] / figures[f"small_{mode}_{kind}"][0] for figures in latency_rounds]
            for mode in ("top", "rank")
            for kind in ("http", "call")
        }

    def latency(self, mode, percentile):
        index = {"p50": "latency_p50_ms", "p99": "latency_p99_ms"}[percentile]
        return _median([getattr(measured[mode], index) for measured in self.results["rounds"]])

    def errors(self, mode):
        return sum(measured[mode].errors for measured in self.results["rounds"])


def figure_rows(results):
    """Return (figure, measured, details) rows."""
    return _web_rows(results) + _drain_rows(results) + _scale_rows(results)


def _web_rows(results):
    summary = Summary(results)
    rows = [
        ("Redis ZINCRBY, redis-benchmark (Redis ceiling)", _rate(results["redis_zincrby_per_second"]),
         "50 clients, one command per round trip"),
        ("Bare Flask endpoint, POST (web stack ceiling)", _spread(summary.rates["bare"], _rate),
         f"p50 {_ms(summary.latency('bare', 'p50'))}, p99 {_ms(summary.latency('bare', 'p99'))}"),
    ]
    for mode, label in (("award", "Award POST"), ("top", "Top-100 GET"), ("rank", "Rank GET")):
        ratio = _spread(summary.ratios[mode], lambda value: f"{value:.2f}")
        rows.append(
            (label, _spread(summary.rates[mode], _rate),
             f"{ratio} x bare; p50 {_ms(summary.latency(mode, 'p50'))}, p99 {_ms(summary.latency(mode, 'p99'))}; "
             f"{summary.errors(mode)} errors")
        )

    half_rates = [measured["half_rate"] for measured in results["rounds"]]
    rows.append(
        ("Award latency at a fixed rate of half the round's award throughput",
         "; ".join(f"p50 {_ms(half.latency_p50_ms)}, p99 {_ms(half.latency_p99_ms)}" for half in half_rates),
         "; ".join(
             f"{half.target_rate:,.0f}/s: {half.completed} of {half.sent} answered 2xx, send lag p99 {_ms(half.send_lag_p99_ms)}"
             for half in half_rates
         ))
    )
    return rows


def _drain_rows(results):
    rows = []
    for name, label in (("postgres", "PostgreSQL"), ("sqlite", "SQLite")):
        drain, capacity = results[f"drain_{name}"], results[f"capacity_{name}"]
        wrk = drain["wrk"]
        rows += [
            (f"{label}: awards during {wrk.duration_seconds:.0f} s of full load", _rate(wrk.requests_per_second),
             f"{wrk.requests:,} requests, {wrk.errors} errors, p50 {_ms(wrk.latency_p50_ms)}, p99 {_ms(wrk.latency_p99_ms)}"),
            (f"{label}: max backlog, outbox + queued jobs x batch size",
             f"{drain['max_queue_backlog_seconds']:.2f} s of awards", f"{drain['max_queue_backlog_awards']:,} awards"),
            (f"{label}: max awards accepted but not yet in the database",
             f"{drain['max_unrecorded_seconds']:.2f} s of awards", f"{drain['max_unrecorded_awards']:,} awards"),
            (f"{label}: database complete after the load stops", f"{drain['drain_seconds']:.2f} s",
             f"{drain['awards_recorded']:,} rows in point_transactions"),
            (f"{label}: awards recorded per second by one worker", _rate(capacity["awards_per_second"]),
             f"{capacity['awards']:,} awards put in the outbox at once, web idle"),
        ]

    rebuild = results["rebuild"]
    rows += [
        (f"Rebuild, {rebuild['rows']:,} log rows, {rebuild['users']:,} users", f"{rebuild['rebuild_seconds']:.2f} s",
         f"wall time of `flask leaderboard rebuild`; {rebuild['rebuild_reported_seconds']} s reported by it"),
        ("Rebuild --from-log, same data", f"{rebuild['from_log_seconds']:.2f} s",
         f"wall time; {rebuild['from_log_reported_seconds']} s reported; rewrites leaderboard_scores from the log first"),
    ]
    return rows


def _scale_rows(results):
    memory = results["memory"]
    rows = [
        (f"Redis memory per member at {memory['members']:,} members", f"{memory['bytes_per_member']:.1f} B",
         f"used_memory delta; sorted set alone {memory['board_bytes_per_member']:.1f} B ({memory['encodings']['board']}); "
         f"usernames player<id> in {memory['encodings']['names']} hashes")
    ]

    latency_rounds = results["latency_rounds"]
    for board in ("small", "large"):
        members = latency_rounds[0][f"{board}_members"]
        for mode, label in (("top", "Top-100"), ("rank", "Rank")):
            http = [figures[f"{board}_{mode}_http"] for figures in latency_rounds]
            call = [figures[f"{board}_{mode}_call"] for figures in latency_rounds]
            rows.append(
                (f"{label} latency at {members:,} members",
                 f"HTTP p50 {_ms(_median([p50 for p50, _ in http]))}",
                 f"HTTP p99 {_ms(_median([p99 for _, p99 in http]))}; Redis call (repository method) "
                 f"p50 {_ms(_median([p50 for p50, _ in call]))}, p99 {_ms(_median([p99 for _, p99 in call]))}")
            )
    return rows


def target_rows(results):
    """Return (target, measured, passed) rows; ratios are medians over the rounds."""
    summary = Summary(results)
    rows = [
        ("Award throughput >= 0.75 x bare", _median(summary.ratios["award"]), 0.75, ">="),
        ("Rank reads >= 0.8 x bare", _median(summary.ratios["rank"]), 0.8, ">="),
        ("Top-100 reads >= 0.6 x bare", _median(summary.ratios["top"]), 0.6, ">="),
        ("Award p99 <= 3 x p50 at half the max throughput", _median(summary.half_rate_ratios), 3.0, "<="),
    ]
    for name, label in (("postgres", "PostgreSQL"), ("sqlite", "SQLite")):
        drain = results[f"drain_{name}"]
        rows += [
            (f"{label}: backlog <= 2 s of awards (outbox + queued jobs)", drain["max_queue_backlog_seconds"], 2.0, "<="),
            (f"{label}: backlog <= 2 s of awards (not yet in the database)", drain["max_unrecorded_seconds"], 2.0, "<="),
            (f"{label}: database complete <= 5 s after the load", drain["drain_seconds"], 5.0, "<="),
        ]
    rebuild, memory = results["rebuild"], results["memory"]
    rows += [
        (f"Rebuild of {rebuild['rows']:,} log rows <= 15 s", rebuild["rebuild_seconds"], 15.0, "<="),
        (f"Rebuild --from-log of {rebuild['rows']:,} log rows <= 15 s", rebuild["from_log_seconds"], 15.0, "<="),
        ("Redis memory <= 120 B per member", memory["bytes_per_member"], 120.0, "<="),
    ]
    for mode, label in (("top", "Top-100"), ("rank", "Rank")):
        for kind, kind_label in (("http", "HTTP"), ("call", "Redis call")):
            rows.append(
                (f"{label} p50 at the large board <= 1.5 x at the small ({kind_label})",
                 _median(summary.scale_ratios[(mode, kind)]), 1.5, "<=")
            )
    return [
        (name, f"{value:.2f}", value >= limit if comparison == ">=" else value <= limit)
        for name, value, limit, comparison in rows
    ]


def cpu_rows(results):
    """Return (run, requests/s, CPU microseconds per request of each part, total) over all rounds of each run."""
    rows = []
    rounds = results["rounds"]
    for mode in ("bare", "award", "top", "rank"):
        requests = sum(measured[mode].requests for measured in rounds)
        usages = [results["cpu"][f"{mode} {number}"] for number in range(1, len(rounds) + 1)]
        per_request = [sum(usage.get(part, 0.0) for usage in usages) * 1e6 / requests for part in CPU_PARTS]
        rows.append((mode, _median([measured[mode].requests_per_second for measured in rounds]), per_request, sum(per_request)))
    return rows


def other_load_rows(results):
    """Return (step, share of all CPUs used by processes the benchmark did not start)."""
    cpus = os.cpu_count() or 1
    return [(name, usage["other"] / (usage["seconds"] * cpus)) for name, usage in results["cpu"].items()]


def markdown(results, facts, command, total_seconds):
    rounds = len(results["rounds"])
    lines = [
        f"### {facts['date']}, commit {facts['commit']}",
        "",
        f"Command: `{command}` ({total_seconds:.0f} s in total, {rounds} round(s) for the ratios).",
        f"Machine: {facts['cpus']} CPUs ({facts['cpu_model']}), {facts['memory_mib']} MiB memory, "
        f"Linux {facts['kernel']}, Python {facts['python']}, {facts['redis']}, "
        f"PostgreSQL {facts['postgres']}, wrk {facts['wrk']}.",
        f"gunicorn options of the service and the bare endpoint: `{facts['gunicorn_options']}`.",
        "PostgreSQL: synchronous_commit={synchronous_commit}, fsync={fsync}.".format(**results["postgres_settings"]),
        "",
        "| Figure | Measured | Details |",
        "|---|---|---|",
    ]
    lines += [f"| {figure} | {measured} | {details} |" for figure, measured, details in figure_rows(results)]
    lines += ["", "| Target | Measured | Result |", "|---|---|---|"]
    lines += [f"| {name} | {measured} | {'pass' if passed else '**FAIL**'} |" for name, measured, passed in target_rows(results)]
    lines += [
        "",
        "CPU time per request in microseconds, by process, over all rounds:",
        "",
        "| Run | Requests/s | " + " | ".join(CPU_PARTS) + " | total |",
        "|---|---|" + "---|" * (len(CPU_PARTS) + 1),
    ]
    for name, rate, per_request, total in cpu_rows(results):
        lines.append(f"| {name} | {rate:,.0f} | " + " | ".join(f"{value:.0f}" for value in per_request) + f" | {total:.0f} |")
    busy = [f"{name} {share:.0%}" for name, share in other_load_rows(results) if share >= 0.05]
    lines += [
        "",
        "Share of all CPUs used by processes the benchmark did not start, per step (from 5%): "
        + (", ".join(busy) if busy else "below 5% in every step") + ".",
    ]
    return "\n".join(lines) + "\n"


def append_to_docs(text):
    with open(DOCS_PATH, "a", encoding="utf-8") as docs:
        docs.write("\n" + text)
