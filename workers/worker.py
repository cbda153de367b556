"""Worker entry point: ``python -m workers.worker`` runs the RQ worker with its scheduler.

The worker records awards without forking per job (RQ's SimpleWorker): a batch job
takes milliseconds, far less than a fork, and a thread in the same process moves
awards from the outbox into batch jobs.
"""

import logging

import redis
from rq import SimpleWorker

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
        # outlive its timeout; past timeout + grace, a dead worker's job is retried.
        return int(job.timeout or self.default_worker_ttl) + self.abandoned_grace_seconds

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


def main():
    app = create_app()
    with app.app_context():
        worker = build_worker(app)
        log.info("worker %s starting on queue %s", worker.name, app.config["RQ_QUEUE_NAME"])
        worker.work(with_scheduler=True, logging_level=app.config["LOG_LEVEL"])


if __name__ == "__main__":
    main()
