"""The service under test: its settings, its CLI, its gunicorn and worker processes, and its state."""

import os
import re
import subprocess
import sys
import time

import redis
from rq import Queue, Worker

import config
from bench import data
from bench.servers import REPO_ROOT, ServiceProcess, free_port, start_gunicorn, wait_for_http, wait_until
from leaderboard.repository import LeaderboardRepository


class Service:
    """One deployment of the service: a database URL, a Redis URL and the Procfile's processes."""

    def __init__(self, name, database_url, redis_url, gunicorn_options, run_dir, key_prefix=None):
        self.name = name
        self.run_dir = run_dir
        self.gunicorn_options = gunicorn_options
        self.env = {key: value for key, value in os.environ.items() if not key.startswith("FLASK_")}
        self.env.update(DATABASE_URL=database_url, REDIS_URL=redis_url, PYTHONPATH=str(REPO_ROOT))
        if key_prefix is not None:
            self.env["REDIS_KEY_PREFIX"] = key_prefix
        # The benchmark reads the same settings as the service, so keys and batch size match.
        self.settings = config.settings_from_env(self.env)
        self.redis = redis.Redis.from_url(redis_url)
        self.repository = LeaderboardRepository(self.redis, self.settings["REDIS_KEY_PREFIX"])
        self.queue = Queue(self.settings["RQ_QUEUE_NAME"], connection=self.redis)
        self.database = data.open_database(database_url)
        self.port = None
        self.web = None
        self.worker = None

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def flask(self, *arguments):
        """Run ``flask --app wsgi leaderboard ARGUMENTS`` and return (output, wall seconds)."""
        started = time.monotonic()
        completed = subprocess.run(
            [sys.executable, "-m", "flask", "--app", "wsgi", "leaderboard", *arguments],
            cwd=REPO_ROOT, env=self.env, capture_output=True, text=True, timeout=300,
        )
        seconds = time.monotonic() - started
        if completed.returncode != 0:
            raise RuntimeError(f"flask leaderboard {' '.join(arguments)} failed:\n{completed.stdout}\n{completed.stderr}")
        return completed.stdout, seconds

    def rebuild(self, from_log=False):
        """Run the rebuild command; return (wall seconds, seconds the command reported)."""
        output, wall_seconds = self.flask("rebuild", *(["--from-log"] if from_log else []))
        reported = re.search(r"in ([0-9.]+)s", output)
        return wall_seconds, float(reported.group(1)) if reported else None

    def start(self, worker=True):
        """Start gunicorn and, unless worker is False, the RQ worker; return when both are ready."""
        self.port = free_port()
        if worker:
            self.worker = ServiceProcess.worker(self.env, self.run_dir / f"{self.name}-worker.log")
        self.web = start_gunicorn(
            "wsgi:app", self.port, self.gunicorn_options, self.env, self.run_dir / f"{self.name}-gunicorn.log"
        )
        wait_for_http(self.port)
        if not worker:
            return
        wait_until(
            lambda: Worker.count(connection=self.redis, queue=self.queue) > 0,
            timeout=30,
            message=f"the {self.name} RQ worker to register",
        )

    def stop_worker(self):
        if self.worker is not None:
            self.worker.stop()
        self.worker = None

    def stop(self):
        self.stop_worker()
        if self.web is not None:
            self.web.stop()
        self.web = None

    def close(self):
        self.stop()
        self.database.close()
        self.redis.close()

    # State

    def awards_accepted(self):
        """Return the sum of all totals on the board: every award is 1 point and every user starts at 0."""
        return -int(sum(score for _, score in self.redis.zrange(self.repository.board_key, 0, -1, withscores=True)))

    def awards_recorded(self):
        return data.count_recorded_awards(self.database)

    def queue_backlog(self):
        """Return (awards in the outbox, award jobs waiting in the RQ queue)."""
        with self.redis.pipeline(transaction=False) as pipe:
            pipe.llen(self.repository.outbox_key)
            pipe.llen(self.queue.key)
            outbox, jobs = pipe.execute()
        return outbox, jobs

    def wait_until_recorded(self, timeout_seconds):
        """Wait until the database contains every accepted award, and return the seconds waited."""
        started = time.monotonic()
        wait_until(
            lambda: self.awards_recorded() >= self.awards_accepted(),
            timeout=timeout_seconds,
            interval=0.1,
            message=f"the {self.name} worker to record every award",
        )
        return time.monotonic() - started
