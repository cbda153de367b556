"""Database connection from one URL, and the per-request connection lifecycle."""

import logging
from pathlib import Path
from urllib.parse import urlparse

from peewee import SqliteDatabase
from playhouse import db_url
from playhouse.migrations import Runner

from leaderboard.models import database_proxy

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


def connect_database(url, connect_timeout_seconds=2, sqlite_busy_timeout_ms=5000):
    """Create a Peewee database from a URL; the connection opens on first use.

    ``postgres://`` is accepted as an alias of ``postgresql://``, the ``+pool`` variants
    give a connection pool, and query parameters such as ``sslmode`` go to the driver.
    """
    scheme = urlparse(url).scheme
    options = {}
    if scheme.startswith("sqlite"):
        sqlite_path = urlparse(url).path[1:]
        if sqlite_path and sqlite_path != ":memory:":
            Path(sqlite_path).parent.mkdir(parents=True, exist_ok=True)
        # WAL lets readers run beside the one writer, and the busy timeout makes a second
        # writer wait instead of failing at once.
        options["pragmas"] = {
            "journal_mode": "wal",
            "foreign_keys": 1,
            "busy_timeout": sqlite_busy_timeout_ms,
            "synchronous": "normal",
        }
    elif scheme.startswith("postgres"):
        options["connect_timeout"] = connect_timeout_seconds
    else:
        raise ValueError(
            f"DATABASE_URL scheme {scheme!r} is not supported; use sqlite:///PATH or postgresql://HOST/DB"
        )
    return db_url.connect(url, **options)


def is_sqlite(database):
    return isinstance(database, SqliteDatabase)


def migrate(database):
    """Apply every pending migration in order and return the names applied."""
    runner = Runner(database, directory=str(MIGRATIONS_DIR))
    with database.connection_context():
        applied = runner.up()
    for name in applied:
        log.info("migration %s applied", name)
    return applied


def init_app(app):
    database = connect_database(
        app.config["DATABASE_URL"],
        connect_timeout_seconds=app.config["DATABASE_CONNECT_TIMEOUT_SECONDS"],
        sqlite_busy_timeout_ms=app.config["SQLITE_BUSY_TIMEOUT_MS"],
    )
    database_proxy.initialize(database)
    app.extensions["database"] = database

    @app.teardown_appcontext
    def close_database(exception):
        if not database.is_closed():
            database.close()
