"""Shared parts of the fault tests: private servers, the service's real processes, and an award ledger.

Each fault test runs its own redis-server and, for PostgreSQL, its own database in a
private cluster that the test session made with initdb, so a test may stop, kill,
freeze or flush them. Nothing here talks to the machine's shared Redis or PostgreSQL.
"""

import base64
import collections
import contextlib
import dataclasses
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import psycopg2
import pytest
import redis
from rq import Queue, Worker
from rq.job import JobStatus

from leaderboard.jobqueue import AwardQueue
from leaderboard.repository import LeaderboardRepository
from tests.http import HttpClient
from tests.servers import (
    REPO_ROOT,
    PostgresCluster,
    RedisServer,
    ServiceProcess,
    free_port,
    redis_server_binary,
    service_env,
    wait_for_http,
    wait_until,
)

PREFIX = "lbfault"
QUEUE = "leaderboard-fault"

# Short retries, timeouts and polls keep each fault test within seconds. config.py contains
# the production defaults, and tests override single values where a fault needs another timing.
FAST_SETTINGS = {
    "RETRY_INTERVALS_SECONDS": "1,1,2",
    "JOB_TIMEOUT_SECONDS": 8,
    "ABANDONED_JOB_GRACE_SECONDS": 2,
    "WORKER_MAINTENANCE_INTERVAL_SECONDS": 1,
    "OUTBOX_POLL_INTERVAL_SECONDS": 0.05,
    "SQLITE_BUSY_TIMEOUT_MS": 2000,
    "DATABASE_CONNECT_TIMEOUT_SECONDS": 2,
    "REDIS_TIMEOUT_SECONDS": 1,
    "LOG_LEVEL": "INFO",
}

PRODUCTION_REDIS_CONF = REPO_ROOT / "deploy" / "redis.conf"


# Databases


class SqliteDatabase:
    """A SQLite file of one test. An outage is the test holding the write lock."""

    name = "sqlite"

    def __init__(self, path):
        self.path = Path(path)
        self.url = f"sqlite:///{self.path}"
        self._blocker = None

    def query(self, sql):
        connection = sqlite3.connect(self.path, timeout=30)
        try:
            return connection.execute(sql).fetchall()
        finally:
            connection.close()

    def make_unavailable(self):
        """Hold the write lock, so every write of the service fails with "database is locked".

        The tests run as root, and chmod does not make a file unwritable for root. A lock
        held longer than SQLITE_BUSY_TIMEOUT_MS fails the worker's writes for real.
        """
        self._blocker = sqlite3.connect(self.path, isolation_level=None)
        self._blocker.execute("BEGIN EXCLUSIVE")

    def make_available(self):
        if self._blocker is not None:
            self._blocker.execute("ROLLBACK")
            self._blocker.close()
            self._blocker = None

    @contextlib.contextmanager
    def scores_locked(self):
        """Hold the lock that a job needs to add to leaderboard_scores, so the job waits."""
        self.make_unavailable()
        try:
            yield
        finally:
            self.make_available()

    def close(self):
        self.make_available()


class PostgresDatabase:
    """A database of its own in the session's private cluster. An outage is the cluster stopped."""

    name = "postgres"

    def __init__(self, cluster, database_name):
        self.cluster = cluster
        self.database_name = database_name
        self.url = cluster.url(database_name)
        self._stopped = False

    def query(self, sql):
        connection = psycopg2.connect(self.url, connect_timeout=5)
        try:
            with connection.cursor() as cursor:
                cursor.execute(sql)
                return cursor.fetchall()
        finally:
            connection.close()

    def make_unavailable(self):
        """Stop the private cluster: every connection attempt of the service is refused."""
        self.cluster.stop(mode="fast")
        self._stopped = True

    def make_available(self):
        if self._stopped:
            self.cluster.start()
            self._stopped = False

    @contextlib.contextmanager
    def scores_locked(self):
        """Lock leaderboard_scores against writers, so a job waits after inserting its log rows."""
        connection = psycopg2.connect(self.url, connect_timeout=5)
        try:
            with connection.cursor() as cursor:
                cursor.execute("LOCK TABLE leaderboard_scores IN EXCLUSIVE MODE")
            yield
        finally:
            connection.rollback()
            connection.close()

    def close(self):
        self.make_available()
        admin = psycopg2.connect(self.cluster.url("postgres"), connect_timeout=5)
        admin.autocommit = True
        with admin.cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{self.database_name}" WITH (FORCE)')
        admin.close()


@pytest.fixture(scope="session")
def postgres_cluster():
    """A private PostgreSQL cluster for the fault tests, made with initdb on its own port."""
    # Not under pytest's tmp_path: its parent directories are private to root, and the
    # cluster runs as the postgres user.
    directory = tempfile.mkdtemp(prefix="leaderboard-faults-pg-")
    cluster = PostgresCluster(directory).init().start()
    yield cluster
    cluster.stop(mode="immediate")
    shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture(params=["sqlite", "postgres"])
def fault_database(request, tmp_path):
    """An empty database for one test, on SQLite and on the private PostgreSQL."""
    if request.param == "sqlite":
        backend = SqliteDatabase(tmp_path / "leaderboard.db")
    else:
        cluster = request.getfixturevalue("postgres_cluster")
        name = f"fault_{uuid.uuid4().hex[:10]}"
        cluster.create_database(name)
        backend = PostgresDatabase(cluster, name)
    yield backend
    backend.close()


@pytest.fixture
def fault_sqlite(tmp_path):
    backend = SqliteDatabase(tmp_path / "leaderboard.db")
    yield backend
    backend.close()


@pytest.fixture
def fault_postgres(postgres_cluster):
    name = f"fault_{uuid.uuid4().hex[:10]}"
    postgres_cluster.create_database(name)
    backend = PostgresDatabase(postgres_cluster, name)
    yield backend
    backend.close()


# Redis


class ConfiguredRedisServer(RedisServer):
    """A private redis-server that reads a configuration file, with port, address and directory overridden."""

    def __init__(self, directory, config_path):
        super().__init__(directory, appendonly=True)
        self.config_path = Path(config_path)

    def start(self):
        command = [
            redis_server_binary(),
            str(self.config_path),
            "--port", str(self.port),
            "--bind", "127.0.0.1",
            "--dir", str(self.directory),
            "--logfile", str(self.directory / "redis.log"),
        ]
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        client = redis.Redis(port=self.port, socket_connect_timeout=0.2)

        def ready():
            try:
                # A restarted server returns a LOADING error while it replays the AOF.
                return client.ping() and client.info("persistence")["loading"] == 0
            except redis.exceptions.RedisError:
                return False

        wait_until(ready, message=f"redis-server on port {self.port} with {self.config_path.name}")
        return self


@pytest.fixture
def fault_redis(tmp_path):
    """A redis-server of this test alone, with AOF on so that a restart keeps its data."""
    server = RedisServer(tmp_path / "redis", appendonly=True).start()
    yield server
    if server.process and server.process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            server.process.send_signal(signal.SIGCONT)
    server.stop()


# The service


class Service:
    """The service as deployed: gunicorn, RQ worker processes and the flask CLI, as child processes."""

    def __init__(self, directory, redis_url, database_url, **settings):
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.redis_url = redis_url
        self.database_url = database_url
        self.env = service_env(
            DATABASE_URL=database_url,
            REDIS_URL=redis_url,
            REDIS_KEY_PREFIX=PREFIX,
            RQ_QUEUE_NAME=QUEUE,
            **{**FAST_SETTINGS, **settings},
        )
        self.redis = redis.Redis.from_url(redis_url, socket_timeout=10, socket_connect_timeout=2)
        self.repository = LeaderboardRepository(self.redis, PREFIX)
        self.queue = Queue(QUEUE, connection=self.redis)
        intervals = [int(part) for part in str(self.env["RETRY_INTERVALS_SECONDS"]).split(",")]
        self.award_queue = AwardQueue(
            self.redis, QUEUE, intervals, 24 * 3600, int(self.env["JOB_TIMEOUT_SECONDS"])
        )
        self.http = None
        self.web = None
        self.workers = []

    def cli(self, *args, timeout=60):
        return subprocess.run(
            [sys.executable, "-m", "flask", "--app", "wsgi", "leaderboard", *args],
            cwd=REPO_ROOT, env=self.env, capture_output=True, text=True, timeout=timeout,
        )

    def migrate(self):
        result = self.cli("migrate")
        assert result.returncode == 0, result.stderr
        return self

    def start_web(self, workers=2):
        port = free_port()
        self.web = ServiceProcess.gunicorn(port, self.env, self.directory / "web.log", workers=workers)
        wait_for_http(port)
        self.http = HttpClient(port)
        return self.http

    def start_worker(self, wait=True):
        log_path = self.directory / f"worker-{len(self.workers) + 1}.log"
        worker = ServiceProcess.worker(self.env, log_path)
        self.workers.append(worker)
        if wait:
            self.wait_for_workers(sum(1 for each in self.workers if each.alive()))
        return worker

    def wait_for_workers(self, count, timeout=30):
        wait_until(
            lambda: Worker.count(queue=self.queue) >= count,
            timeout=timeout,
            message=f"{count} RQ worker(s) to register on {QUEUE}",
        )

    def scheduler_lock_owner(self):
        owner = self.redis.get(f"rq:scheduler-lock:{QUEUE}")
        return owner.decode() if owner else None

    def stop(self):
        for process in [self.web, *self.workers]:
            if process is not None and not process.log.closed:
                process.stop()
        self.redis.close()

    # Redis-side state of awards

    def jobs_by_status(self):
        counts = collections.Counter()
        for job in self.award_queue.award_jobs():
            counts[job.get_status(refresh=False)] += 1
        return counts

    def failed_job_ids(self):
        return self.queue.failed_job_registry.get_job_ids()

    def drained(self):
        """True when every accepted award has left Redis's outbox and no job is queued, running or retrying."""
        if self.repository.outbox_length():
            return False
        statuses = self.jobs_by_status()
        return all(status == JobStatus.FAILED for status in statuses)

    def wait_for_drain(self, timeout=60):
        wait_until(self.drained, timeout=timeout, interval=0.1, message="the workers to drain the outbox and queue")

    def wait_until_all_failed(self, timeout=60):
        """Wait until every award job sits in the failed registry and the outbox is empty."""

        def all_failed():
            statuses = self.jobs_by_status()
            return (
                self.repository.outbox_length() == 0
                and statuses
                and set(statuses) == {JobStatus.FAILED}
                and self.queue.failed_job_registry.count == sum(statuses.values())
            )

        wait_until(all_failed, timeout=timeout, interval=0.1, message="every award job to fail")

    def verify(self):
        return self.cli("verify")

    def worker_logs(self):
        return "".join(worker.output() for worker in self.workers)


@pytest.fixture
def make_service(tmp_path):
    """Build Services for a test and stop their processes when it ends."""
    services = []

    def make(redis_url, database_url, name="service", **settings):
        service = Service(tmp_path / name, redis_url, database_url, **settings)
        services.append(service)
        return service

    yield make
    for service in services:
        service.stop()


def basic_auth(username, password):
    token = base64.b64encode(f"{username}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def register_users(http, user_ids):
    for user_id in user_ids:
        status, body = http.put(f"/api/users/{user_id}", {"username": f"player{user_id}"})
        assert status == 201, body


# Counting awards


@dataclasses.dataclass
class Reconciliation:
    accepted: int
    recorded: int
    duplicates: int
    lost: int
    expected_totals: dict
    table_totals: dict
    board_totals: dict


class AwardLedger:
    """Counts the awards a test sent and which were accepted, then checks the database and Redis against them.

    An award is accepted when the API returned 202, and its transaction id is the one in
    that response. A request repeated with the same Idempotency-Key is the same award, so
    it counts as retried, not as sent again. An award that is not accepted must not be recorded.
    """

    def __init__(self, name):
        self.name = name
        self.faults = 0
        self.sent = 0
        # Repeats of an award already sent, with its Idempotency-Key, after a failed attempt.
        self.retried = 0
        self.accepted = {}
        self.reconciliation = None
        # Further figures a test reports, printed after the counts: {name: value}.
        self.notes = {}
        self._lock = threading.Lock()

    def send(self, http, user_id, points, source="fault", key=None, retry_of_sent=False, timeout=10):
        """POST one award and return (status, body, seconds taken)."""
        headers = {"Idempotency-Key": key} if key is not None else None
        body = {"user_id": user_id, "points": points, "source": source}
        started = time.monotonic()
        status, reply = http.post("/api/leaderboard/award", body, headers=headers, timeout=timeout)
        elapsed = time.monotonic() - started
        with self._lock:
            if retry_of_sent:
                self.retried += 1
            else:
                self.sent += 1
            if status == 202:
                self.accepted[reply["transaction_id"]] = (user_id, points, source)
        return status, reply, elapsed

    def expected_totals(self):
        totals = collections.Counter()
        for user_id, points, _ in self.accepted.values():
            totals[user_id] += points
        return dict(totals)

    def reconcile(self, database, repository):
        """Compare the log, leaderboard_scores and the Redis board with the accepted awards."""
        rows = database.query("SELECT transaction_id, user_id, points FROM point_transactions")
        # SQLite stores a UUIDField as 32 hex digits, PostgreSQL as a uuid: compare the canonical form.
        logged = collections.Counter(str(uuid.UUID(str(transaction_id))) for transaction_id, _, _ in rows)
        recorded = sum(1 for transaction_id in self.accepted if logged[transaction_id] >= 1)
        # Every log row beyond one per accepted award counts an award recorded twice or
        # recorded without having been accepted.
        duplicates = sum(count - (1 if transaction_id in self.accepted else 0) for transaction_id, count in logged.items())
        table = {user_id: score for user_id, score in database.query("SELECT user_id, score FROM leaderboard_scores")}
        self.reconciliation = Reconciliation(
            accepted=len(self.accepted),
            recorded=recorded,
            duplicates=duplicates,
            lost=len(self.accepted) - recorded,
            expected_totals=self.expected_totals(),
            table_totals={user_id: score for user_id, score in table.items() if score != 0},
            board_totals={user_id: total for user_id, total in repository.board_totals().items() if total != 0},
        )
        return self.reconciliation

    def summary(self):
        line = f"{self.name}: faults={self.faults} sent={self.sent} accepted={len(self.accepted)}"
        line += f" not_accepted={self.sent - len(self.accepted)} retried={self.retried}"
        if self.reconciliation is None:
            line += " recorded=? duplicates=? lost=? (not reconciled)"
        else:
            tally = self.reconciliation
            line += f" recorded={tally.recorded} duplicates={tally.duplicates} lost={tally.lost}"
        return line + "".join(f" {name}={value}" for name, value in self.notes.items())


LEDGERS_KEY = pytest.StashKey[list]()


@pytest.fixture
def ledger(request):
    """An AwardLedger whose figures appear in the "fault figures" section of the test report."""
    award_ledger = AwardLedger(request.node.name)
    request.config.stash.setdefault(LEDGERS_KEY, []).append(award_ledger)
    return award_ledger


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    """Print each fault test's figures and their totals after the run, also under pytest -q."""
    ledgers = config.stash.get(LEDGERS_KEY, [])
    if not ledgers:
        return
    terminalreporter.section("fault figures")
    for award_ledger in ledgers:
        terminalreporter.write_line(award_ledger.summary())
    tallies = [award_ledger.reconciliation for award_ledger in ledgers if award_ledger.reconciliation]
    terminalreporter.write_line(
        f"total: tests={len(ledgers)} reconciled={len(tallies)} "
        f"faults={sum(award_ledger.faults for award_ledger in ledgers)} "
        f"sent={sum(award_ledger.sent for award_ledger in ledgers)} "
        f"accepted={sum(len(award_ledger.accepted) for award_ledger in ledgers)} "
        f"not_accepted={sum(award_ledger.sent - len(award_ledger.accepted) for award_ledger in ledgers)} "
        f"retried={sum(award_ledger.retried for award_ledger in ledgers)} "
        f"recorded={sum(tally.recorded for tally in tallies)} "
        f"duplicates={sum(tally.duplicates for tally in tallies)} "
        f"lost={sum(tally.lost for tally in tallies)}"
    )


def assert_reconciled(ledger, database, repository):
    """Assert that every accepted award is in the log once and in both totals, one condition per assert."""
    tally = ledger.reconcile(database, repository)
    assert tally.lost == 0
    assert tally.duplicates == 0
    assert tally.table_totals == tally.expected_totals
    assert tally.board_totals == tally.expected_totals
    return tally


def assert_verify_clean(service):
    result = service.verify()
    assert result.returncode == 0, result.stdout + result.stderr
    assert " 0 with drift" in result.stdout


FAILED_LINE = re.compile(
    r"^job (?P<job>\S+): user (?P<user>\d+) points (?P<points>-?\d+) source (?P<source>'[^']*'|\"[^\"]*\") "
    r"transaction (?P<transaction>\S+) attempts (?P<attempts>\d+) error (?P<error>.*)$"
)


def parse_failed_list(output):
    """Parse `flask leaderboard failed list` into {transaction id: fields}."""
    listed = {}
    for line in output.splitlines():
        match = FAILED_LINE.match(line)
        if match:
            fields = match.groupdict()
            fields["source"] = fields["source"][1:-1]
            listed[fields["transaction"]] = fields
    return listed
