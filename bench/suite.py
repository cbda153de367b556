"""The benchmark's steps in order, with their sizes and the CPU time each step used.

The figures that the targets compare (service against bare endpoint, 1,000,000 members
against 10,000) are measured in interleaved rounds, a few seconds apart, and the report
takes the median round. On a machine shared with other work, that keeps a burst of
foreign load from landing on one side of a ratio only.
"""

import contextlib
import dataclasses
import logging
import os
import time

from bench import data, measure
from bench.cpu import CpuMeter
from bench.load import run_redis_benchmark, run_wrk
from bench.rate import run_fixed_rate
from bench.servers import REPO_ROOT, PostgresCluster, RedisServer, free_port, start_gunicorn, wait_for_http
from bench.service import Service

log = logging.getLogger("bench")

# Before each round the benchmark waits, up to QUIET_WAIT_SECONDS, for a second in which
# processes it did not start use less than QUIET_SHARE of all CPUs.
QUIET_SHARE = 0.10
QUIET_WAIT_SECONDS = 10


@dataclasses.dataclass(frozen=True)
class Profile:
    rounds: int
    # Length of each closed-loop wrk run and of each fixed-rate run, in a round.
    run_seconds: int
    sustained_seconds: int
    latency_seconds: int
    users: int
    capacity_awards: int
    rebuild_rows: int
    rebuild_users: int
    large_board_members: int
    direct_samples: int


PROFILES = {
    # The run that the targets are judged on; about 7 minutes on 2 cores.
    "full": Profile(
        rounds=3,
        run_seconds=6,
        sustained_seconds=60,
        latency_seconds=3,
        users=10_000,
        capacity_awards=50_000,
        rebuild_rows=1_000_000,
        rebuild_users=100_000,
        large_board_members=1_000_000,
        direct_samples=1_000,
    ),
    # A smoke run of every step in about 1.5 minutes; its figures are not comparable.
    "quick": Profile(
        rounds=1,
        run_seconds=3,
        sustained_seconds=10,
        latency_seconds=2,
        users=10_000,
        capacity_awards=10_000,
        rebuild_rows=100_000,
        rebuild_users=10_000,
        large_board_members=100_000,
        direct_samples=300,
    ),
}


class Suite:
    """One run of every step; results collects the figures, keyed as bench/report.py reads them."""

    def __init__(self, profile, gunicorn_options, threads, connections, run_dir):
        self.profile = profile
        self.gunicorn_options = gunicorn_options
        self.closed_loop = {"threads": threads, "connections": connections, "users": profile.users}
        self.run_dir = run_dir
        self.results = {"profile": dataclasses.asdict(profile), "cpu": {}, "quiet_waits": []}
        self.started = time.monotonic()
        self.redis_server = None
        self.cluster = None
        # The processes that the CPU meter charges as "web" and "worker" in the current step.
        self.web_pid = None
        self.worker_pid = None
        self.meter = CpuMeter(
            {
                "web": lambda: self.web_pid,
                "worker": lambda: self.worker_pid,
                "redis": lambda: self.redis_server.pid,
                "postgres": lambda: self.cluster.pid,
            }
        )

    @contextlib.contextmanager
    def step(self, name):
        began = time.monotonic()
        log.info("%s ...", name)
        yield
        log.info("%s done in %.1f s (%.0f s since start)", name, time.monotonic() - began, time.monotonic() - self.started)

    def metered(self, name, function):
        """Call function and return its result, storing the CPU seconds each part used meanwhile in results["cpu"][name]."""
        before = self.meter.snapshot()
        began = time.monotonic()
        value = function()
        usage = CpuMeter.usage(before, self.meter.snapshot())
        usage["seconds"] = time.monotonic() - began
        self.results["cpu"][name] = usage
        return value

    def wait_for_quiet(self, label):
        """Wait until other processes leave the CPUs nearly idle for a second; record how long that took."""
        began = time.monotonic()
        cpus = os.cpu_count() or 1
        while True:
            before = self.meter.snapshot()
            time.sleep(1)
            other_share = CpuMeter.usage(before, self.meter.snapshot())["other"] / cpus
            waited = time.monotonic() - began
            if other_share < QUIET_SHARE or waited >= QUIET_WAIT_SECONDS:
                break
        self.results["quiet_waits"].append({"before": label, "seconds": waited, "other_share": other_share})
        if other_share >= QUIET_SHARE:
            log.warning("other processes still use %.0f%% of the CPUs; measuring %s anyway", other_share * 100, label)

    def use(self, web=None, worker=None):
        self.web_pid = web.pid if web else None
        self.worker_pid = worker.pid if worker else None

    def run(self):
        with contextlib.ExitStack() as cleanup:
            self.redis_server = RedisServer(self.run_dir / "redis").start()
            cleanup.callback(self.redis_server.stop)
            with self.step("start a private PostgreSQL (initdb)"):
                self.cluster = PostgresCluster().start()
                cleanup.callback(self.cluster.stop)
            self.check_postgres_settings()
            with self.step("redis-benchmark ZINCRBY"):
                self.results["redis_zincrby_per_second"] = run_redis_benchmark(self.redis_server.port)
            self.redis_server.flushall()
            self.postgres_service(cleanup)
            self.sqlite_service(cleanup)
            self.rebuild(cleanup)
        self.results["total_seconds"] = time.monotonic() - self.started
        return self.results

    def check_postgres_settings(self):
        settings = self.cluster.settings(["synchronous_commit", "fsync", "server_version"])
        self.results["postgres_settings"] = settings
        if settings["synchronous_commit"] != "on" or settings["fsync"] != "on":
            raise RuntimeError(f"the private PostgreSQL must run with synchronous_commit and fsync on; it has {settings}")

    def start_service(self, name, database_url, cleanup):
        service = Service(name, database_url, self.redis_server.url(), self.gunicorn_options, self.run_dir)
        cleanup.callback(service.close)
        service.flask("migrate")
        data.seed_users(service.database, self.profile.users)
        service.rebuild()
        service.start()
        measure.warm_up(service.url, "award", **self.closed_loop)
        service.wait_until_recorded(measure.DRAIN_TIMEOUT_SECONDS)
        return service

    def postgres_service(self, cleanup):
        with self.step("PostgreSQL service and bare endpoint: migrate, seed users, start"):
            service = self.start_service("postgres", self.cluster.create_database("bench"), cleanup)
            port = free_port()
            env = dict(os.environ, PYTHONPATH=str(REPO_ROOT))
            bare = start_gunicorn("bench.bare_app:app", port, self.gunicorn_options, env, self.run_dir / "bare-gunicorn.log")
            cleanup.callback(bare.stop)
            wait_for_http(port)
            bare_url = f"http://127.0.0.1:{port}"
            measure.warm_up(bare_url, "award", **self.closed_loop)
        self.results["rounds"] = []
        for number in range(1, self.profile.rounds + 1):
            with self.step(f"throughput round {number} of {self.profile.rounds}"):
                self.wait_for_quiet(f"throughput round {number}")
                self.results["rounds"].append(self.throughput_round(number, service, bare, bare_url))
        bare.stop()
        self.sustained(service, "postgres")
        service.stop()

    def throughput_round(self, number, service, bare, bare_url):
        """Measure bare, award, top-100 and rank requests/s back to back, then award latency at half the award rate."""
        seconds = self.profile.run_seconds
        measured = {}
        self.use(web=bare)
        measured["bare"] = self.metered(f"bare {number}", lambda: run_wrk(bare_url, "award", seconds, **self.closed_loop))
        self.use(web=service.web, worker=service.worker)
        for mode in ("award", "top", "rank"):
            measured[mode] = self.metered(f"{mode} {number}", lambda: run_wrk(service.url, mode, seconds, **self.closed_loop))
            service.wait_until_recorded(measure.DRAIN_TIMEOUT_SECONDS)
        rate = measured["award"].requests_per_second / 2
        measured["half_rate"] = self.metered(
            f"half_rate {number}", lambda: run_fixed_rate(service.port, rate, seconds, users=self.profile.users)
        )
        service.wait_until_recorded(measure.DRAIN_TIMEOUT_SECONDS)
        return measured

    def sustained(self, service, name):
        profile = self.profile
        self.use(web=service.web, worker=service.worker)
        with self.step(f"{name}: sustained awards and drain"):
            self.wait_for_quiet(f"{name} sustained awards")
            self.results[f"drain_{name}"] = self.metered(
                f"drain_{name}", lambda: measure.sustained_awards(service, profile.sustained_seconds, **self.closed_loop)
            )
        with self.step(f"{name}: worker capacity"):
            self.wait_for_quiet(f"{name} worker capacity")
            self.results[f"capacity_{name}"] = self.metered(
                f"capacity_{name}", lambda: measure.worker_capacity(service, profile.capacity_awards, profile.users)
            )

    def sqlite_service(self, cleanup):
        profile = self.profile
        self.redis_server.flushall()
        with self.step("SQLite service: migrate, seed users, start"):
            service = self.start_service("sqlite", f"sqlite:///{self.run_dir / 'bench.db'}", cleanup)
        self.sustained(service, "sqlite")
        # The remaining steps read Redis only, so the worker stops here.
        service.stop_worker()
        large = Service(
            "large-board", service.env["DATABASE_URL"], self.redis_server.url(), self.gunicorn_options, self.run_dir,
            key_prefix=service.settings["REDIS_KEY_PREFIX"] + "-large",
        )
        cleanup.callback(large.close)
        with self.step(f"Redis memory at {profile.large_board_members:,} members"):
            self.results["memory"] = measure.redis_memory_per_member(large.repository, profile.large_board_members)
        large.start(worker=False)
        self.results["latency_rounds"] = []
        for number in range(1, profile.rounds + 1):
            with self.step(f"read latency round {number} of {profile.rounds}"):
                self.wait_for_quiet(f"read latency round {number}")
                self.results["latency_rounds"].append(self.latency_round(service, large))
        large.stop()
        service.stop()

    def latency_round(self, small, large):
        """Measure top-100 and rank latency on the small and the large board, alternating."""
        profile = self.profile
        figures = {}
        for board, service, users in (("small", small, profile.users), ("large", large, profile.large_board_members)):
            figures[f"{board}_members"] = service.redis.zcard(service.repository.board_key)
            for mode in ("top", "rank"):
                figures[f"{board}_{mode}_http"] = measure.http_latency(service.url, mode, profile.latency_seconds, users)
                figures[f"{board}_{mode}_call"] = measure.call_latency(service.repository, mode, profile.direct_samples, users)
        return figures

    def rebuild(self, cleanup):
        profile = self.profile
        self.redis_server.flushall()
        service = Service("rebuild", self.cluster.create_database("bench_rebuild"), self.redis_server.url(), self.gunicorn_options, self.run_dir)
        cleanup.callback(service.close)
        self.use()
        with self.step(f"rebuild from {profile.rebuild_rows:,} log rows"):
            service.flask("migrate")
            self.wait_for_quiet("rebuild")
            self.results["rebuild"] = self.metered(
                "rebuild", lambda: measure.rebuild_times(service, profile.rebuild_rows, profile.rebuild_users)
            )
