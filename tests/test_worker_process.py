"""The worker process's life cycle, with a real worker and its RQ scheduler child."""

import signal
import subprocess

import pytest

from tests.servers import ServiceProcess, service_env, wait_until


def children(pid):
    result = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True)
    return [int(line) for line in result.stdout.split()]


def alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split()[2] != "Z"
    except FileNotFoundError:
        return False


@pytest.fixture
def worker(redis_server, tmp_path):
    env = service_env(
        DATABASE_URL=f"sqlite:///{tmp_path / 'worker.db'}",
        REDIS_URL=redis_server.url(3),
        RQ_QUEUE_NAME="leaderboard-lifecycle",
        REDIS_KEY_PREFIX="lblife",
    )
    process = ServiceProcess.worker(env, tmp_path / "worker.log")
    yield process
    process.stop()


def test_scheduler_stops_when_worker_killed(worker):
    scheduler_pid = wait_until(lambda: children(worker.pid), timeout=20, message="the RQ scheduler process")[0]
    worker.process.send_signal(signal.SIGKILL)
    worker.process.wait(5)
    wait_until(lambda: not alive(scheduler_pid), timeout=10, message="the orphaned scheduler to stop")
    assert not alive(scheduler_pid)


def test_worker_stops_on_sigterm(worker):
    wait_until(lambda: children(worker.pid), timeout=20, message="the RQ scheduler process")
    worker.process.send_signal(signal.SIGTERM)
    assert worker.process.wait(15) == 0
    assert "outbox pump stopped" in worker.output()
