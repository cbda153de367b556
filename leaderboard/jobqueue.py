"""The RQ side of awards: queueing award batches as jobs and finding awards still queued."""

import logging

from rq import Queue, Retry
from rq.exceptions import NoSuchJobError
from rq.job import Job, JobStatus

from leaderboard.awards import Award

log = logging.getLogger(__name__)

# Referenced by import path so the web process never imports the worker package.
RECORD_JOB = "workers.jobs.record_award_batch"


class AwardQueue:
    """Creates award jobs with the configured retry policy and reads them back."""

    def __init__(self, connection, name, retry_intervals, failed_ttl_seconds, job_timeout_seconds):
        self.queue = Queue(name, connection=connection)
        self.retry_intervals = list(retry_intervals)
        self.failed_ttl_seconds = failed_ttl_seconds
        self.job_timeout_seconds = job_timeout_seconds

    @classmethod
    def from_config(cls, connection, config):
        return cls(
            connection,
            config["RQ_QUEUE_NAME"],
            config["RETRY_INTERVALS_SECONDS"],
            config["FAILED_JOB_TTL_SECONDS"],
            config["JOB_TIMEOUT_SECONDS"],
        )

    @property
    def connection(self):
        return self.queue.connection

    def enqueue(self, awards, pipeline=None):
        """Create one job that records the awards; on a MULTI pipeline it joins that transaction."""
        return self.queue.enqueue_call(
            RECORD_JOB,
            args=([award.to_record() for award in awards],),
            description=f"record {len(awards)} award(s)",
            retry=Retry(max=len(self.retry_intervals), interval=self.retry_intervals),
            failure_ttl=self.failed_ttl_seconds,
            # A finished job is deleted at once, so every job key that remains contains
            # awards that the database may not have yet.
            result_ttl=0,
            timeout=self.job_timeout_seconds,
            pipeline=pipeline,
        )

    def award_jobs(self):
        """Return every job of this queue that still contains awards: queued, running, retrying or failed."""
        prefix = Job.redis_job_namespace_prefix
        job_ids = []
        for key in self.connection.scan_iter(match=f"{prefix}*", count=1000):
            job_id = key.decode()[len(prefix) :]
            if ":" not in job_id:
                job_ids.append(job_id)
        jobs = []
        for start in range(0, len(job_ids), 500):
            for job in Job.fetch_many(job_ids[start : start + 500], connection=self.connection):
                if job is None or job.origin != self.queue.name or job.func_name != RECORD_JOB:
                    continue
                if job.get_status(refresh=False) == JobStatus.FINISHED:
                    continue
                jobs.append(job)
        return jobs

    @staticmethod
    def job_awards(job):
        try:
            records = job.args[0]
        except (NoSuchJobError, IndexError, TypeError):
            log.warning("job %s has no award records in its arguments", job.id)
            return []
        return [Award.from_record(record) for record in records]
