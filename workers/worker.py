"""Worker entry point: ``python -m workers.worker`` runs the RQ worker with its scheduler.

The worker records awards without forking per job (RQ's SimpleWorker): a batch job
takes milliseconds, far less than a fork, and a thread in the same process moves
awards from the outbox into batch jobs.
"""

import ctypes
import logging
import os
import signal

import redis
from rq import SimpleWorker
from rq.executions import Execution

from leaderboard import create_app
from leaderboard.jobqueue import AwardQueue
from leaderboard.repository import LeaderboardRepository
from workers.outbox import OutboxPump

log = logging.getLogger(__name__)


class LeaderboardWorker(SimpleWorker):
    """A SimpleWorker that runs the outbox pump and detects abandoned jobs sooner."""

    def __init__(self, *args, pump=None, abandoned_grace_seconds=60, **kwargs):
        super().__init__(*args, **kwargs)
        self.pump = pump
        self.abandoned_grace_seconds = abandoned_grace_seconds

    def get_heartbeat_ttl(self, job):
        # A job runs in this process without heartbeats, so its registry entry must
        # outlive its timeout. Past timeout + grace, a dead worker's job is retried.
        return int(job.timeout or self.worker_ttl) + self.abandoned_grace_seconds

    @property
    def dequeue_timeout(self):
        # RQ runs registry maintenance only between jobs and between blocking dequeues,
        # which otherwise wait up to worker_ttl - 15 s (405 s by default). An idle worker
        # wakes once per maintenance interval, so it retries an abandoned job that soon.
        return max(1, min(super().dequeue_timeout, self.maintenance_interval))

    @property
    def connection_timeout(self):
        # RQ derives the socket timeout from the dequeue timeout. Keep the one it derives
        # from worker_ttl, so a Redis stall stops the worker no sooner than before.
        return super().dequeue_timeout + 10

    def execute_job(self, job, queue):
        self._forget_dead_executions(job)
        return super().execute_job(job, queue)

    def _forget_dead_executions(self, job):
        """Remove each execution whose hash has expired from the job's execution registry.

        RQ 2.12 keeps a dead worker's execution id in that registry for 60 s after the
        execution itself expired. Deleting a finished job (result_ttl=0) fetches every
        listed execution, so without this a job retried as abandoned within that window
        fails with "Execution ... not found in Redis" after its awards are committed, and
        ends in the failed registry.
        """
        registry = job.execution_registry
        dead = [
            execution_id
            for execution_id in registry.get_execution_ids()
            if not self.connection.exists(Execution(execution_id, job.id, self.connection).key)
        ]
        if dead:
            self.connection.zrem(registry.key, *dead)
            log.info("job %s: removed %d expired execution(s) of dead workers before running it again", job.id, len(dead))

    def unsubscribe(self):
        """Unsubscribe from the worker's command channel, waiting at most 1 s for its thread.

        RQ 2.12 calls redis-py's PubSubWorkerThread.stop(), which in redis-py 8.2 waits
        without a timeout. Once unsubscribed, RQ's thread may sit in a wait of up to 60 s,
        so a warm shutdown of an idle worker could hang until its process manager killed
        it. The thread is a daemon, so the process may exit without it.
        """
        if self.pubsub_thread:
            self.log.info("Worker %s: unsubscribing from channel %s", self.name, self.pubsub_channel_name)
            self.pubsub.unsubscribe()
            self.pubsub_thread.stop(timeout=1)
            self.pubsub.close()

    def work(self, *args, **kwargs):
        if self.pump is not None:
            self.pump.start()
        try:
            return super().work(*args, **kwargs)
        finally:
            if self.pump is not None:
                self.pump.stop()


def build_worker(app):
    settings = app.config
    # The worker blocks on Redis for new jobs, so its connection has no read timeout.
    connection = redis.Redis.from_url(settings["REDIS_URL"])
    award_queue = AwardQueue.from_config(connection, settings)
    # The pump has its own client: RQ forks its scheduler from this process, and a
    # child must not inherit a connection pool that another thread is using.
    pump_connection = redis.Redis.from_url(settings["REDIS_URL"])
    pump = OutboxPump(
        LeaderboardRepository(pump_connection, settings["REDIS_KEY_PREFIX"]),
        AwardQueue.from_config(pump_connection, settings),
        batch_size=settings["AWARD_BATCH_SIZE"],
        poll_interval_seconds=settings["OUTBOX_POLL_INTERVAL_SECONDS"],
    )
    return LeaderboardWorker(
        [award_queue.queue],
        connection=connection,
        pump=pump,
        abandoned_grace_seconds=settings["ABANDONED_JOB_GRACE_SECONDS"],
        maintenance_interval=settings["WORKER_MAINTENANCE_INTERVAL_SECONDS"],
    )


PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>


def _stop_with_parent():
    """Ask Linux to send this forked child SIGTERM when the worker process dies.

    RQ forks its scheduler from the worker. Without this, a worker killed with SIGKILL
    leaves the scheduler running, and holding the scheduler lock, with no worker.
    """
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):
        log.warning("cannot tie the scheduler's life to the worker on this platform")


def main():
    os.register_at_fork(after_in_child=_stop_with_parent)
    app = create_app()
    with app.app_context():
        worker = build_worker(app)
        log.info("worker %s starting on queue %s", worker.name, app.config["RQ_QUEUE_NAME"])
        worker.work(with_scheduler=True, logging_level=app.config["LOG_LEVEL"])


if __name__ == "__main__":
    main()
