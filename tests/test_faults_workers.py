"""Faults: workers killed in the middle of a job, and four workers draining one queue at once.

A killed worker leaves its job in RQ's started registry. Once the job's heartbeat TTL
(JOB_TIMEOUT_SECONDS + ABANDONED_JOB_GRACE_SECONDS, see LeaderboardWorker) has passed,
the next registry cleanup of a live worker treats the job as abandoned and retries it.
"""

import concurrent.futures
import contextlib
import itertools
import signal
import subprocess
import time

import pytest
from rq import Worker

# The fault tests' fixtures (private servers, the service's processes, the award ledger)
# and helpers. The helpers' asserts are rewritten only if registered before the import.
pytest.register_assert_rewrite("tests.fault_support")
pytest_plugins = ["tests.fault_support"]

from tests.fault_support import assert_reconciled, assert_verify_clean, register_users  # noqa: E402
from tests.servers import wait_until  # noqa: E402

# Seconds between SIGTERM and SIGKILL, as a process manager gives a worker to finish its job.
SHUTDOWN_GRACE_SECONDS = 2
# Seconds that idle workers may take to exit after SIGTERM.
STOP_TIMEOUT_SECONDS = 10


def running_jobs(service):
    """Return {job id: worker pid} for every job that a registered worker is running."""
    running = {}
    for rq_worker in Worker.all(queue=service.queue):
        job_id = rq_worker.get_current_job_id()
        if job_id:
            running[job_id] = rq_worker.pid
    return running


def award_until_running(service, ledger, user_id, points):
    """Send one award and return the id of the job that a worker starts for it."""
    before = set(running_jobs(service))
    status, _, _ = ledger.send(service.http, user_id, points, source="kill-test")
    assert status == 202
    started = wait_until(
        lambda: set(running_jobs(service)) - before,
        timeout=15,
        message="a worker to start the award's job",
    )
    return started.pop()


def test_killed_workers_jobs_run_again(fault_database, fault_redis, make_service, ledger):
    service = make_service(
        fault_redis.url(),
        fault_database.url,
        JOB_TIMEOUT_SECONDS=8,
        ABANDONED_JOB_GRACE_SECONDS=2,
        # A job waits for the test's lock instead of failing.
        SQLITE_BUSY_TIMEOUT_MS=30000,
    ).migrate()
    service.start_web()
    register_users(service.http, [1, 2, 3])
    # The survivor starts first so that it holds the scheduler lock: the lock of a killed
    # worker would delay every scheduled retry until it expires about a minute later.
    survivor = service.start_worker()
    scheduler_owner = wait_until(service.scheduler_lock_owner, timeout=15, message="the scheduler lock")
    assert ledger.send(service.http, 1, 5)[0] == 202
    service.wait_for_drain()

    with fault_database.scores_locked():
        # The survivor takes the first job and waits for the lock, so each victim takes one of the next two.
        survivor_job = award_until_running(service, ledger, 1, 10)
        victims = [service.start_worker(wait=False), service.start_worker(wait=False)]
        service.wait_for_workers(3)
        killed_job = award_until_running(service, ledger, 2, 20)
        terminated_job = award_until_running(service, ledger, 3, 30)
        running = running_jobs(service)
        killed = next(victim for victim in victims if victim.pid == running[killed_job])
        terminated = next(victim for victim in victims if victim.pid == running[terminated_job])

        killed.signal(signal.SIGKILL)
        killed.process.wait(10)
        ledger.faults += 1
        terminated.signal(signal.SIGTERM)
        time.sleep(SHUTDOWN_GRACE_SECONDS)
        # A warm shutdown waits for the running job, which still waits for the lock.
        assert terminated.alive()
        terminated.signal(signal.SIGKILL)
        terminated.process.wait(10)
        ledger.faults += 1
        # Awards keep coming while both jobs are orphaned. The survivor records them later.
        statuses = [ledger.send(service.http, 1 + index % 3, 1 + index)[0] for index in range(20)]
        assert set(statuses) == {202}

    assert running[survivor_job] == survivor.pid
    assert service.scheduler_lock_owner() == scheduler_owner
    service.wait_for_drain(timeout=45)
    assert service.queue.failed_job_registry.count == 0
    survivor_log = survivor.output()
    assert killed_job in survivor_log
    assert terminated_job in survivor_log
    assert_reconciled(ledger, fault_database, service.repository)
    assert_verify_clean(service)


def test_four_workers_drain_one_queue(fault_database, fault_redis, make_service, ledger):
    # Small batches make many jobs, so the four workers contend for the same score rows.
    service = make_service(fault_redis.url(), fault_database.url, AWARD_BATCH_SIZE=8).migrate()
    service.start_web(workers=2)
    user_ids = list(range(1, 21))
    register_users(service.http, user_ids)
    awards = itertools.cycle([(user_id, points) for points in (1, 2, 3) for user_id in user_ids])

    def send_batch(count):
        with concurrent.futures.ThreadPoolExecutor(max_workers=6) as pool:
            batch = [next(awards) for _ in range(count)]
            return list(pool.map(lambda award: ledger.send(service.http, *award, source="drain")[0], batch))

    # The first awards wait in the outbox, so all four workers start on a full queue.
    assert set(send_batch(400)) == {202}
    for _ in range(4):
        service.start_worker(wait=False)
    ledger.faults += 1
    service.wait_for_workers(4)
    assert set(send_batch(400)) == {202}

    service.wait_for_drain(timeout=60)
    assert service.queue.failed_job_registry.count == 0
    # A retried job would also show up here, as the traceback of its failed attempt.
    assert "Traceback" not in service.worker_logs()
    busy_workers = [worker for worker in service.workers if "Job OK" in worker.output()]
    assert len(busy_workers) == 4
    assert_reconciled(ledger, fault_database, service.repository)
    assert_verify_clean(service)

    # A warm shutdown of an idle worker ends within seconds, the scheduler's owner included.
    signalled = time.monotonic()
    for worker in service.workers:
        worker.signal(signal.SIGTERM)
    for worker in service.workers:
        with contextlib.suppress(subprocess.TimeoutExpired):
            worker.process.wait(max(0.1, signalled + STOP_TIMEOUT_SECONDS - time.monotonic()))
    still_running = [worker.pid for worker in service.workers if worker.alive()]
    assert still_running == []
