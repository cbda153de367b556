"""Load generators: wrk with bench/wrk/load.lua, and redis-benchmark."""

import csv
import dataclasses
import io
import json
import os
import shutil
import subprocess
from pathlib import Path

WRK_SCRIPT = Path(__file__).resolve().parent / "wrk" / "load.lua"

# wrk's own limit for one response; a slower one counts as a timeout error.
WRK_TIMEOUT_SECONDS = 5


@dataclasses.dataclass(frozen=True)
class WrkResult:
    requests: int
    duration_seconds: float
    errors: int
    latency_p50_ms: float
    latency_p90_ms: float
    latency_p99_ms: float
    latency_p999_ms: float
    latency_max_ms: float

    @property
    def requests_per_second(self):
        return self.requests / self.duration_seconds


def run_wrk(url, mode, duration_seconds, threads, connections, users=10_000, rate=None):
    """Run wrk for duration_seconds and return a WrkResult.

    rate, in requests per second over all threads, switches wrk from a closed loop (each
    connection sends its next request when the response arrives) to a fixed send schedule.
    """
    if shutil.which("wrk") is None:
        raise RuntimeError("wrk not found; run bench/run, which installs it, or apt-get install wrk")
    env = dict(os.environ, BENCH_MODE=mode, BENCH_USERS=str(users))
    if rate is not None:
        env["BENCH_THREAD_RATE"] = str(rate / threads)
    command = [
        "wrk",
        "--threads", str(threads),
        "--connections", str(connections),
        "--duration", f"{duration_seconds}s",
        "--timeout", f"{WRK_TIMEOUT_SECONDS}s",
        "--latency",
        "--script", str(WRK_SCRIPT),
        url,
    ]
    completed = subprocess.run(
        command, env=env, capture_output=True, text=True, timeout=duration_seconds + 30, check=True
    )
    for line in completed.stdout.splitlines():
        if line.startswith("BENCH_RESULT "):
            raw = json.loads(line[len("BENCH_RESULT "):])
            break
    else:
        raise RuntimeError(f"wrk printed no BENCH_RESULT line:\n{completed.stdout}\n{completed.stderr}")
    errors = sum(raw[key] for key in raw if key.startswith("errors_"))
    return WrkResult(
        requests=raw["requests"],
        duration_seconds=raw["duration_us"] / 1e6,
        errors=errors,
        latency_p50_ms=raw["latency_p50_us"] / 1000,
        latency_p90_ms=raw["latency_p90_us"] / 1000,
        latency_p99_ms=raw["latency_p99_us"] / 1000,
        latency_p999_ms=raw["latency_p99.9_us"] / 1000,
        latency_max_ms=raw["latency_max_us"] / 1000,
    )


def run_redis_benchmark(port, requests=200_000, clients=50, members=10_000):
    """Return ZINCRBY requests/s of redis-benchmark against the Redis on port, one command per round trip."""
    binary = shutil.which("redis-benchmark")
    if binary is None:
        raise RuntimeError("redis-benchmark not found; install the redis-tools package")
    command = [
        binary,
        "-h", "127.0.0.1",
        "-p", str(port),
        "-n", str(requests),
        "-c", str(clients),
        "-r", str(members),
        "--csv",
        "ZINCRBY", "bench:redis-benchmark", "1", "member:__rand_int__",
    ]
    completed = subprocess.run(command, capture_output=True, text=True, timeout=120, check=True)
    rows = [row for row in csv.reader(io.StringIO(completed.stdout)) if row]
    # Redis 7 prints a header row ("test", "rps", ...) and then one row per test.
    data = [row for row in rows if row[0] != "test"]
    if not data:
        raise RuntimeError(f"redis-benchmark printed no result:\n{completed.stdout}\n{completed.stderr}")
    return float(data[-1][1])
