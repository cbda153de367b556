"""Service settings. This is the only module that reads the environment."""

import os
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent
DEFAULT_SQLITE_PATH = BASE_DIR / "instance" / "leaderboard.db"


def _int(environ, name, default):
    raw = environ.get(name)
    if raw in (None, ""):
        return default
    try:
        return int(raw)
    except ValueError:
        raise ValueError(f"{name}={raw!r} is not an integer; set it to a whole number") from None


def _float(environ, name, default):
    raw = environ.get(name)
    if raw in (None, ""):
        return default
    try:
        return float(raw)
    except ValueError:
        raise ValueError(f"{name}={raw!r} is not a number; set it to a number of seconds") from None


def _intervals(environ, name, default):
    raw = environ.get(name)
    if raw in (None, ""):
        return list(default)
    try:
        intervals = [int(part) for part in raw.split(",")]
    except ValueError:
        raise ValueError(
            f"{name}={raw!r} is invalid; set it to comma-separated whole seconds, e.g. 2,4,8,16,32"
        ) from None
    if not intervals or any(interval < 0 for interval in intervals):
        raise ValueError(f"{name}={raw!r} is invalid; give at least one interval, none negative")
    return intervals


def settings_from_env(environ=None):
    """Build the Flask config mapping from environment variables."""
    environ = os.environ if environ is None else environ
    return {
        "DATABASE_URL": environ.get("DATABASE_URL") or f"sqlite:///{DEFAULT_SQLITE_PATH}",
        # Seconds that a PostgreSQL connection attempt may take; libpq rounds values below 2 up to 2.
        "DATABASE_CONNECT_TIMEOUT_SECONDS": _int(environ, "DATABASE_CONNECT_TIMEOUT_SECONDS", 2),
        # Milliseconds that SQLite waits for a lock held by another writer.
        "SQLITE_BUSY_TIMEOUT_MS": _int(environ, "SQLITE_BUSY_TIMEOUT_MS", 5000),
        "REDIS_URL": environ.get("REDIS_URL") or "redis://127.0.0.1:6379/0",
        # Every Redis key of the service starts with this prefix and a colon.
        "REDIS_KEY_PREFIX": environ.get("REDIS_KEY_PREFIX") or "lb",
        # Connect and read timeout of the web process's Redis calls, so that a dead Redis gives 503 fast.
        "REDIS_TIMEOUT_SECONDS": _float(environ, "REDIS_TIMEOUT_SECONDS", 1.0),
        "RQ_QUEUE_NAME": environ.get("RQ_QUEUE_NAME") or "leaderboard",
        # One retry per interval, in seconds: 5 retries with exponential backoff by default.
        "RETRY_INTERVALS_SECONDS": _intervals(environ, "RETRY_INTERVALS_SECONDS", (2, 4, 8, 16, 32)),
        "FAILED_JOB_TTL_SECONDS": _int(environ, "FAILED_JOB_TTL_SECONDS", 30 * 24 * 3600),
        "JOB_TIMEOUT_SECONDS": _int(environ, "JOB_TIMEOUT_SECONDS", 60),
        # How long after its last heartbeat a running job counts as abandoned by a dead worker.
        "ABANDONED_JOB_GRACE_SECONDS": _int(environ, "ABANDONED_JOB_GRACE_SECONDS", 60),
        # How often a worker cleans RQ's registries, which is when abandoned jobs are retried.
        "WORKER_MAINTENANCE_INTERVAL_SECONDS": _int(environ, "WORKER_MAINTENANCE_INTERVAL_SECONDS", 30),
        # Maximum awards that one background job records in one database transaction.
        "AWARD_BATCH_SIZE": _int(environ, "AWARD_BATCH_SIZE", 500),
        # How often the worker moves accepted awards from the outbox into RQ jobs.
        "OUTBOX_POLL_INTERVAL_SECONDS": _float(environ, "OUTBOX_POLL_INTERVAL_SECONDS", 0.1),
        "IDEMPOTENCY_TTL_SECONDS": _int(environ, "IDEMPOTENCY_TTL_SECONDS", 24 * 3600),
        # Largest request body in bytes; a larger one gets 413.
        "MAX_CONTENT_LENGTH": _int(environ, "MAX_CONTENT_LENGTH_BYTES", 16 * 1024),
        "LOG_LEVEL": (environ.get("LOG_LEVEL") or "INFO").upper(),
        "RQ_DASHBOARD_USERNAME": environ.get("RQ_DASHBOARD_USERNAME") or None,
        "RQ_DASHBOARD_PASSWORD": environ.get("RQ_DASHBOARD_PASSWORD") or None,
    }
