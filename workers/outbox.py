"""OutboxPump: moves accepted awards from the Redis outbox into RQ jobs, in batches."""

import logging
import threading

import redis

log = logging.getLogger(__name__)

MAX_BACKOFF_SECONDS = 5.0


class OutboxPump(threading.Thread):
    def __init__(self, repository, award_queue, batch_size, poll_interval_seconds):
        super().__init__(name="outbox-pump", daemon=True)
        self.repository = repository
        self.award_queue = award_queue
        self.batch_size = batch_size
        self.poll_interval_seconds = poll_interval_seconds
        self._stopping = threading.Event()

    def stop(self, timeout=5.0):
        self._stopping.set()
        if self.is_alive():
            self.join(timeout)

    def pump_once(self):
        """Claim up to one batch; return the number of awards moved into a job."""
        return self.repository.claim_outbox(
            self.batch_size,
            lambda pipeline, awards: self.award_queue.enqueue(awards, pipeline=pipeline),
        )

    def run(self):
        log.info("outbox pump started: batches of up to %d awards", self.batch_size)
        backoff = self.poll_interval_seconds
        while not self._stopping.is_set():
            try:
                claimed = self.pump_once()
            except redis.exceptions.RedisError as error:
                log.warning("outbox pump cannot reach Redis (%s); retrying in %.1fs", error, backoff)
                self._stopping.wait(backoff)
                backoff = min(backoff * 2, MAX_BACKOFF_SECONDS)
                continue
            backoff = self.poll_interval_seconds
            if claimed:
                log.debug("moved %d award(s) from the outbox into a job", claimed)
            # A full batch means more may be waiting: claim again at once.
            if claimed < self.batch_size:
                self._stopping.wait(self.poll_interval_seconds)
        log.info("outbox pump stopped")
