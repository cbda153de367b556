"""Fault: the database is down while awards keep coming.

On PostgreSQL the test stops its private cluster; on SQLite it holds the write lock
longer than SQLITE_BUSY_TIMEOUT_MS. Awards are accepted by Redis alone, so the API keeps
returning 202 while the worker's jobs fail and retry. Past their retries, the jobs wait
in RQ's failed registry until someone requeues them.
"""

import pytest
from rq.job import JobStatus

# The fault tests' fixtures (private servers, the service's processes, the award ledger)
# and helpers. The helpers' asserts are rewritten only if registered before the import.
pytest.register_assert_rewrite("tests.fault_support")
pytest_plugins = ["tests.fault_support"]

from tests.fault_support import (  # noqa: E402
    assert_reconciled,
    assert_verify_clean,
    basic_auth,
    parse_failed_list,
    register_users,
)
from tests.servers import wait_until  # noqa: E402

USERS = range(1, 6)
# The error each database gives the worker while it is down.
OUTAGE_ERRORS = {"sqlite": "database is locked", "postgres": "Connection refused"}


def send_awards(ledger, http, count, first_source=0):
    """Send count awards spread over USERS, each with its own source, and return the statuses."""
    statuses = []
    for index in range(count):
        user_id = USERS[index % len(USERS)]
        status, _, _ = ledger.send(http, user_id, 1 + index % 7, source=f"quest-{first_source + index}")
        statuses.append(status)
    return statuses


def min_retries_left(service):
    jobs = service.award_queue.award_jobs()
    return min((job.retries_left for job in jobs if job.retries_left is not None), default=99)


def start_service(make_service, fault_redis, database, **settings):
    # A write that waits 0.2 s for SQLite's lock fails soon, so each attempt of a job is short.
    settings.setdefault("SQLITE_BUSY_TIMEOUT_MS", 200)
    service = make_service(fault_redis.url(), database.url, **settings).migrate()
    service.start_web()
    service.start_worker()
    register_users(service.http, USERS)
    return service


def test_outage_within_retry_window(fault_database, fault_redis, make_service, ledger):
    # Retries 1, 2, 4 and 8 s apart give the database about 15 s to come back.
    service = start_service(make_service, fault_redis, fault_database, RETRY_INTERVALS_SECONDS="1,2,4,8")
    assert set(send_awards(ledger, service.http, 10)) == {202}
    service.wait_for_drain()

    fault_database.make_unavailable()
    ledger.faults += 1
    try:
        statuses = send_awards(ledger, service.http, 40, first_source=10)
        assert set(statuses) == {202}
        # Keep the database down through two failed attempts of a job, 1 s apart.
        wait_until(
            lambda: min_retries_left(service) <= 2,
            timeout=20,
            message="a job to fail twice and wait for its next retry",
        )
        assert service.jobs_by_status()[JobStatus.FAILED] == 0
        # RQ stores no result for a job that it retries, so the error is read from the worker's log.
        assert OUTAGE_ERRORS[fault_database.name] in service.worker_logs()
    finally:
        fault_database.make_available()

    service.wait_for_drain(timeout=30)
    assert service.queue.failed_job_registry.count == 0
    assert_reconciled(ledger, fault_database, service.repository)
    assert_verify_clean(service)


def test_outage_past_retries_then_requeue(fault_database, fault_redis, make_service, ledger):
    service = start_service(make_service, fault_redis, fault_database, RETRY_INTERVALS_SECONDS="1,1,1")
    fault_database.make_unavailable()
    ledger.faults += 1
    try:
        assert set(send_awards(ledger, service.http, 30)) == {202}
        service.wait_until_all_failed(timeout=30)
        listing = service.cli("failed", "list")
    finally:
        fault_database.make_available()

    assert listing.returncode == 0, listing.stderr
    listed = parse_failed_list(listing.stdout)
    assert set(listed) == set(ledger.accepted)
    wrong_fields = [
        transaction_id
        for transaction_id, (user_id, points, source) in ledger.accepted.items()
        if (int(listed[transaction_id]["user"]), int(listed[transaction_id]["points"]), listed[transaction_id]["source"])
        != (user_id, points, source)
    ]
    assert wrong_fields == []
    # One first attempt and three retries.
    assert {fields["attempts"] for fields in listed.values()} == {"4"}
    missing_error = [
        transaction_id
        for transaction_id, fields in listed.items()
        if OUTAGE_ERRORS[fault_database.name] not in fields["error"]
    ]
    assert missing_error == []
    assert f"{len(ledger.accepted)} failed award(s)" in listing.stdout

    requeue = service.cli("failed", "requeue", "--all")
    assert requeue.returncode == 0, requeue.stderr
    service.wait_for_drain(timeout=30)
    assert service.queue.failed_job_registry.count == 0
    assert_reconciled(ledger, fault_database, service.repository)
    assert_verify_clean(service)


def test_dashboard_requeue_replays_failed_jobs(fault_postgres, fault_redis, make_service, ledger):
    credentials = {"RQ_DASHBOARD_USERNAME": "operator", "RQ_DASHBOARD_PASSWORD": "fault-test-password"}
    # Batches of at most 5 awards make at least 4 failed jobs.
    service = start_service(
        make_service, fault_redis, fault_postgres, RETRY_INTERVALS_SECONDS="1", AWARD_BATCH_SIZE=5, **credentials
    )
    fault_postgres.make_unavailable()
    ledger.faults += 1
    try:
        assert set(send_awards(ledger, service.http, 20)) == {202}
        service.wait_until_all_failed(timeout=30)
    finally:
        fault_postgres.make_available()

    failed_ids = service.failed_job_ids()
    assert len(failed_ids) >= 2
    status, _ = service.http.post(f"/rq/job/{failed_ids[0]}/requeue", None)
    assert status == 401
    # The first job through the per-job endpoint, the rest through the queue's "requeue all".
    auth = basic_auth("operator", "fault-test-password")
    assert service.http.post(f"/rq/job/{failed_ids[0]}/requeue", None, headers=auth) == (200, {"status": "OK"})
    requeue_all = service.http.post(f"/rq/requeue/{service.queue.name}", None, headers=auth)
    assert requeue_all == (200, {"status": "OK", "count": len(failed_ids) - 1})

    service.wait_for_drain(timeout=30)
    assert service.queue.failed_job_registry.count == 0
    assert_reconciled(ledger, fault_postgres, service.repository)
    assert_verify_clean(service)

