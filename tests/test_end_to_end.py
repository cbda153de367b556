"""The whole service as deployed: gunicorn, a real RQ worker process, real HTTP calls."""

import contextlib
import datetime
import sqlite3
import subprocess
import sys
import uuid

import psycopg2
import pytest
import redis
from rq.job import Job
from rq.registry import FailedJobRegistry

from leaderboard.jobqueue import AwardQueue
from tests.conftest import ADMIN_POSTGRES_URL
from tests.http import HttpClient
from tests.servers import REPO_ROOT, ServiceProcess, free_port, service_env, wait_for_http, wait_until

QUEUE = "leaderboard-e2e"
PREFIX = "lbe2e"


@pytest.fixture(params=["sqlite", "postgres"])
def fresh_database_url(request, tmp_path):
    """An empty database of its own for one end-to-end run."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'e2e.db'}"
        return
    name = f"leaderboard_e2e_{uuid.uuid4().hex[:10]}"
    admin = psycopg2.connect(ADMIN_POSTGRES_URL)
    admin.autocommit = True
    with admin.cursor() as cursor:
        cursor.execute(f'CREATE DATABASE "{name}"')
    yield f"{ADMIN_POSTGRES_URL.rsplit('/', 1)[0]}/{name}"
    with admin.cursor() as cursor:
        cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.close()


@contextlib.contextmanager
def running_service(database_url, redis_server, tmp_path):
    """Migrate, then run gunicorn and one worker as the Procfile does."""
    redis_url = redis_server.url(2)
    redis.Redis.from_url(redis_url).flushdb()
    env = service_env(
        DATABASE_URL=database_url,
        REDIS_URL=redis_url,
        REDIS_KEY_PREFIX=PREFIX,
        RQ_QUEUE_NAME=QUEUE,
        RETRY_INTERVALS_SECONDS="2,4",
        SQLITE_BUSY_TIMEOUT_MS=100,
        OUTBOX_POLL_INTERVAL_SECONDS=0.05,
    )
    subprocess.run(
        [sys.executable, "-m", "flask", "--app", "wsgi", "leaderboard", "migrate"],
        cwd=REPO_ROOT, env=env, check=True, capture_output=True,
    )
    port = free_port()
    web = ServiceProcess.gunicorn(port, env, tmp_path / "web.log")
    worker = ServiceProcess.worker(env, tmp_path / "worker.log")
    wait_for_http(port)
    try:
        yield {"http": HttpClient(port), "env": env, "redis_url": redis_url, "database_url": database_url}
    finally:
        web.stop()
        worker.stop()


@pytest.fixture
def service(fresh_database_url, redis_server, tmp_path):
    with running_service(fresh_database_url, redis_server, tmp_path) as running:
        yield running


@pytest.fixture
def sqlite_service(redis_server, tmp_path):
    with running_service(f"sqlite:///{tmp_path / 'e2e.db'}", redis_server, tmp_path) as running:
        yield running


def flask_cli(env, *args):
    return subprocess.run(
        [sys.executable, "-m", "flask", "--app", "wsgi", "leaderboard", *args],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=60,
    )


def database_rows(database_url, query):
    if database_url.startswith("sqlite"):
        connection = sqlite3.connect(database_url.removeprefix("sqlite:///"))
        try:
            return connection.execute(query).fetchall()
        finally:
            connection.close()
    connection = psycopg2.connect(database_url)
    try:
        with connection.cursor() as cursor:
            cursor.execute(query)
            return cursor.fetchall()
    finally:
        connection.close()


def wait_for_drain(redis_url, timeout=30):
    """Wait until the outbox is empty and no award job is left: a finished job is deleted at once."""
    connection = redis.Redis.from_url(redis_url)
    award_queue = AwardQueue(connection, QUEUE, [1], 60, 60)

    def drained():
        return connection.llen(f"{PREFIX}:outbox") == 0 and not award_queue.award_jobs()

    wait_until(drained, timeout=timeout, message="the worker to drain the queue")


def attempt_times(log_path, job_id):
    """Return the times, in seconds, at which the worker started job_id, from its log."""
    times = []
    for line in log_path.read_text().splitlines():
        if f"({job_id})" in line and "award(s)" in line:
            stamp = datetime.datetime.strptime(line[:23], "%Y-%m-%d %H:%M:%S,%f")
            times.append(stamp.timestamp())
    return times


def test_scripted_session_matches_contract(service):
    http = service["http"]
    for user_id, name in [(1, "ann"), (2, "ben"), (3, "cyd"), (4, "dee")]:
        assert http.put(f"/api/users/{user_id}", {"username": name})[0] == 201
    assert http.put("/api/users/4", {"username": "dora"})[0] == 200
    assert http.put("/api/users/3", {"username": "ann"})[0] == 409

    accepted = []
    for user_id, points in [(1, 50), (2, 80), (3, 80), (4, 10), (1, -5), (4, 25)]:
        status, body = http.post("/api/leaderboard/award", {"user_id": user_id, "points": points, "source": "e2e"})
        assert status == 202
        accepted.append(body)
    assert accepted[-1]["score"] == 35

    # Bad input changes nothing.
    assert http.post("/api/leaderboard/award", {"user_id": 1, "points": "5", "source": "e2e"})[0] == 422
    assert http.post("/api/leaderboard/award", {"user_id": 99, "points": 5, "source": "e2e"})[0] == 404
    assert http.post("/api/leaderboard/award", b"{", headers={"Content-Type": "application/json"})[0] == 400
    assert http.post("/api/leaderboard/award", b"{}", headers={"Content-Type": "text/plain"})[0] == 415

    status, board = http.get("/api/leaderboard?limit=10")
    assert status == 200
    assert [(e["user_id"], e["rank"], e["score"]) for e in board["entries"]] == [
        (2, 1, 80), (3, 1, 80), (1, 3, 45), (4, 4, 35),
    ]
    assert http.get("/api/leaderboard/user/3")[1] == {"user_id": 3, "username": "cyd", "rank": 1, "score": 80}
    assert http.get("/api/leaderboard/user/4")[1]["username"] == "dora"

    wait_for_drain(service["redis_url"])
    rows = database_rows(service["database_url"], "SELECT transaction_id FROM point_transactions")
    assert len(rows) == len(accepted)
    totals = dict(database_rows(service["database_url"], "SELECT user_id, score FROM leaderboard_scores"))
    assert totals == {e["user_id"]: e["score"] for e in board["entries"]}
    assert flask_cli(service["env"], "verify").returncode == 0


def test_database_failure_retries_then_fails(sqlite_service, tmp_path):
    """The worker's writes fail while the test holds SQLite's write lock past the busy timeout."""
    service = sqlite_service
    http = service["http"]
    assert http.put("/api/users/1", {"username": "ann"})[0] == 201
    path = service["database_url"].removeprefix("sqlite:///")
    blocker = sqlite3.connect(path, isolation_level=None)
    blocker.execute("BEGIN EXCLUSIVE")
    try:
        status, body = http.post("/api/leaderboard/award", {"user_id": 1, "points": 7, "source": "e2e"})
        assert status == 202
        connection = redis.Redis.from_url(service["redis_url"])
        registry = FailedJobRegistry(QUEUE, connection=connection)
        wait_until(lambda: registry.count == 1, timeout=30, message="the job to reach the failed registry")
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()

    job = Job.fetch(registry.get_job_ids()[0], connection=connection)
    assert job.retries_left == 0
    assert "database is locked" in job.latest_result().exc_string
    # RQ's scheduler stores due times in whole seconds, so a retry may start up to 1 s early.
    starts = attempt_times(tmp_path / "worker.log", job.id)
    gaps = [later - earlier for earlier, later in zip(starts, starts[1:])]
    assert len(starts) == 3
    assert 1 <= gaps[0] <= 3.5
    assert 3 <= gaps[1] <= 5.5

    listing = flask_cli(service["env"], "failed", "list")
    assert body["transaction_id"] in listing.stdout
    assert flask_cli(service["env"], "failed", "requeue", "--all").returncode == 0
    wait_for_drain(service["redis_url"])
    rows = database_rows(service["database_url"], "SELECT points FROM point_transactions")
    assert rows == [(7,)]
    assert flask_cli(service["env"], "verify").returncode == 0
