"""Faults of Redis: unreachable, frozen, killed and restarted from its AOF, and flushed.

Each test runs its own redis-server (tests.servers.RedisServer or the production
configuration in deploy/redis.conf), so it may kill, freeze or flush it.
"""

import os
import signal
import time

import pytest
import redis
from rq.job import JobStatus

# The fault tests' fixtures (private servers, the service's processes, the award ledger)
# and helpers. The helpers' asserts are rewritten only if registered before the import.
pytest.register_assert_rewrite("tests.fault_support")
pytest_plugins = ["tests.fault_support"]

from tests.fault_support import (  # noqa: E402
    PRODUCTION_REDIS_CONF,
    ConfiguredRedisServer,
    assert_reconciled,
    assert_verify_clean,
    register_users,
)
from tests.servers import wait_until  # noqa: E402
from workers.outbox import OutboxPump  # noqa: E402

# appendfsync everysec writes the AOF to disk once a second. After a longer wait since
# the last write, a SIGKILL loses none of the writes that the test counts.
AOF_FSYNC_WAIT_SECONDS = 1.5
USERS = [1, 2, 3, 4]


def start_service(make_service, redis_url, database, workers=1, **settings):
    service = make_service(redis_url, database.url, **settings).migrate()
    service.start_web()
    for _ in range(workers):
        service.start_worker()
    register_users(service.http, USERS)
    return service


def send_awards(ledger, http, count, source="redis-fault"):
    return [ledger.send(http, USERS[index % len(USERS)], 1 + index % 5, source=source)[0] for index in range(count)]


def timed_get(http, path):
    started = time.monotonic()
    status, body = http.get(path, timeout=10)
    return status, body, time.monotonic() - started


def probe_api(ledger, http):
    """Call award, board and rank twice each, and return [(status, body, seconds)]."""
    results = []
    for _ in range(2):
        results.append(ledger.send(http, 1, 5, source="while-down"))
        results.append(timed_get(http, "/api/leaderboard?limit=10"))
        results.append(timed_get(http, "/api/leaderboard/user/1"))
    return results


def error_codes(results):
    return {body["error"]["code"] if isinstance(body, dict) and "error" in body else repr(body) for _, body, _ in results}


def test_redis_down_fails_fast_then_recovers(fault_redis, fault_sqlite, make_service, ledger):
    service = start_service(make_service, fault_redis.url(), fault_sqlite)
    assert set(send_awards(ledger, service.http, 20)) == {202}
    service.wait_for_drain()
    time.sleep(AOF_FSYNC_WAIT_SECONDS)

    fault_redis.kill(signal.SIGKILL)
    ledger.faults += 1
    results = probe_api(ledger, service.http)
    assert {status for status, _, _ in results} == {503}
    assert error_codes(results) == {"redis_unavailable"}
    assert max(seconds for _, _, seconds in results) < 2

    fault_redis.start()
    # The first calls after the restart may still meet a connection the restart closed.
    wait_until(
        lambda: ledger.send(service.http, 2, 1, source="recovery")[0] == 202,
        timeout=20,
        interval=0.2,
        message="the API to accept awards again",
    )
    assert set(send_awards(ledger, service.http, 20, source="after-restart")) == {202}
    assert timed_get(service.http, "/api/leaderboard?limit=10")[0] == 200
    assert timed_get(service.http, "/api/leaderboard/user/1")[0] == 200
    service.wait_for_drain(timeout=45)
    assert service.queue.failed_job_registry.count == 0
    assert_reconciled(ledger, fault_sqlite, service.repository)
    assert_verify_clean(service)


def test_frozen_redis_retried_keys_count_once(fault_redis, fault_sqlite, make_service, ledger):
    """A frozen Redis times requests out, and an award may still be applied when Redis wakes.

    So the client retries each timed-out award with its Idempotency-Key, and each must
    count once whether or not the first attempt was applied.
    """
    service = start_service(make_service, fault_redis.url(), fault_sqlite)
    assert set(send_awards(ledger, service.http, 10)) == {202}
    totals_before = service.repository.board_totals()

    os.kill(fault_redis.process.pid, signal.SIGSTOP)
    ledger.faults += 1
    try:
        keyed = [(f"frozen-{index}", USERS[index % len(USERS)], 10 + index) for index in range(4)]
        attempts = [ledger.send(service.http, user_id, points, "frozen", key=key) for key, user_id, points in keyed]
        reads = [timed_get(service.http, "/api/leaderboard?limit=10"), timed_get(service.http, "/api/leaderboard/user/2")]
    finally:
        os.kill(fault_redis.process.pid, signal.SIGCONT)

    results = attempts + reads
    assert {status for status, _, _ in results} == {503}
    assert error_codes(results) == {"redis_unavailable"}
    assert max(seconds for _, _, seconds in results) < 2

    # Each timed-out award went to a user of its own, so a user's total shows whether
    # Redis applied the award when it woke up. Either outcome is correct, so it is only reported.
    totals_after = service.repository.board_totals()
    ledger.notes["timed_out_but_applied"] = sum(
        1 for _, user_id, points in keyed if totals_after[user_id] == totals_before[user_id] + points
    )
    retries = [
        ledger.send(service.http, user_id, points, "frozen", key=key, retry_of_sent=True)[0]
        for key, user_id, points in keyed
    ]
    assert set(retries) == {202}
    service.wait_for_drain(timeout=30)
    assert_reconciled(ledger, fault_sqlite, service.repository)
    assert_verify_clean(service)


def server_config(server, name):
    client = redis.Redis(port=server.port, decode_responses=True)
    try:
        return client.config_get(name)[name]
    finally:
        client.close()


def test_aof_restart_keeps_board_and_jobs(tmp_path, fault_sqlite, make_service, ledger):
    server = ConfiguredRedisServer(tmp_path / "redis-production", PRODUCTION_REDIS_CONF).start()
    try:
        settings = {key: server_config(server, key) for key in ("appendonly", "appendfsync", "maxmemory-policy")}
        assert settings == {"appendonly": "yes", "appendfsync": "everysec", "maxmemory-policy": "noeviction"}
        assert server_config(server, "save") != ""

        # No worker yet: the awards stay in Redis, some moved into queued jobs as the
        # worker's pump would move them, the rest still in the outbox.
        service = start_service(make_service, server.url(), fault_sqlite, workers=0)
        assert set(send_awards(ledger, service.http, 35)) == {202}
        pump = OutboxPump(service.repository, service.award_queue, batch_size=10, poll_interval_seconds=1)
        assert [pump.pump_once(), pump.pump_once()] == [10, 10]
        board_before = service.repository.board_totals()
        jobs_before = service.queue.get_job_ids()
        outbox_before = service.repository.outbox_awards()
        time.sleep(AOF_FSYNC_WAIT_SECONDS)

        server.kill(signal.SIGKILL)
        ledger.faults += 1
        server.start()

        assert service.repository.board_totals() == board_before
        assert service.queue.get_job_ids() == jobs_before
        assert service.repository.outbox_awards() == outbox_before
        assert service.http.get("/api/leaderboard/user/1")[1]["username"] == "player1"

        service.start_worker()
        assert set(send_awards(ledger, service.http, 5, source="after-restart")) == {202}
        service.wait_for_drain(timeout=30)
        assert_reconciled(ledger, fault_sqlite, service.repository)
        assert_verify_clean(service)
    finally:
        server.stop()



def test_flushall_then_rebuild_restores_board(fault_database, fault_redis, make_service, ledger):
    service = start_service(make_service, fault_redis.url(), fault_database)
    assert set(send_awards(ledger, service.http, 40)) == {202}
    service.wait_for_drain()
    status, board_before = service.http.get("/api/leaderboard?limit=100")
    assert status == 200

    service.redis.flushall()
    ledger.faults += 1
    assert service.http.get("/api/leaderboard?limit=100")[1]["total"] == 0
    assert service.http.get("/api/leaderboard/user/1")[0] == 404

    rebuild = service.cli("rebuild")
    assert rebuild.returncode == 0, rebuild.stderr
    assert service.http.get("/api/leaderboard?limit=100") == (200, board_before)
    assert_verify_clean(service)

    # The running worker and the API carry on with the rebuilt keys.
    assert set(send_awards(ledger, service.http, 10, source="after-rebuild")) == {202}
    service.wait_for_drain(timeout=30)
    assert_reconciled(ledger, fault_database, service.repository)
    assert_verify_clean(service)


def only_failed_and_scheduled(service):
    statuses = service.jobs_by_status()
    return (
        service.repository.outbox_length() == 0
        and statuses[JobStatus.SCHEDULED] >= 1
        and set(statuses) <= {JobStatus.FAILED, JobStatus.SCHEDULED}
    )


def test_rebuild_counts_awards_not_in_database(fault_redis, fault_sqlite, make_service, ledger):
    """Awards recorded, failed, retrying, queued and in the outbox all count after a rebuild."""
    # One retry 1 s after the first attempt, so a job fails for good within seconds.
    service = start_service(make_service, fault_redis.url(), fault_sqlite, RETRY_INTERVALS_SECONDS="1", SQLITE_BUSY_TIMEOUT_MS=200)
    recorded_worker = service.workers[0]
    assert set(send_awards(ledger, service.http, 10, source="recorded")) == {202}
    service.wait_for_drain()

    fault_sqlite.make_unavailable()
    try:
        assert set(send_awards(ledger, service.http, 6, source="failed")) == {202}
        service.wait_until_all_failed(timeout=20)
        recorded_worker.stop()

        # A worker whose jobs retry a minute later leaves a job waiting in the scheduled registry.
        slow_retries = make_service(
            fault_redis.url(), fault_sqlite.url, name="slow-retries", RETRY_INTERVALS_SECONDS="60", SQLITE_BUSY_TIMEOUT_MS=200
        )
        retrying_worker = slow_retries.start_worker()
        assert set(send_awards(ledger, service.http, 7, source="retrying")) == {202}
        wait_until(
            lambda: only_failed_and_scheduled(service),
            timeout=20,
            message="the new job to fail once and wait for its retry",
        )
        retrying_worker.stop()
    finally:
        fault_sqlite.make_available()

    assert set(send_awards(ledger, service.http, 8, source="queued")) == {202}
    OutboxPump(service.repository, service.award_queue, batch_size=100, poll_interval_seconds=1).pump_once()
    assert set(send_awards(ledger, service.http, 9, source="outbox")) == {202}
    statuses = service.jobs_by_status()
    assert statuses[JobStatus.FAILED] >= 1
    assert statuses[JobStatus.SCHEDULED] >= 1
    assert statuses[JobStatus.QUEUED] == 1
    assert service.repository.outbox_length() == 9

    # The board is lost while the queue survives.
    service.redis.delete(service.repository.board_key)
    ledger.faults += 1
    rebuild = service.cli("rebuild")
    assert rebuild.returncode == 0, rebuild.stderr
    assert "30 queued award(s) not yet in the database counted on top" in rebuild.stdout
    assert service.repository.board_totals() == ledger.expected_totals()
    assert_verify_clean(service)

    service.start_worker()
    requeue = service.cli("failed", "requeue", "--all")
    assert requeue.returncode == 0, requeue.stderr
    # An operator would not wait a minute for the scheduled retry either.
    for job_id in service.queue.scheduled_job_registry.get_job_ids():
        service.queue.scheduled_job_registry.requeue(job_id)
    service.wait_for_drain(timeout=30)
    assert service.queue.failed_job_registry.count == 0
    assert_reconciled(ledger, fault_sqlite, service.repository)
    assert_verify_clean(service)
