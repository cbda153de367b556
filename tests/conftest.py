"""Fixtures: a private Redis server, a throwaway PostgreSQL database, and apps built by the factory.

Database tests run twice, on SQLite and on PostgreSQL. PostgreSQL comes from
TEST_POSTGRES_URL (default: the local server with trust auth), where the suite creates
its own database and drops it at the end.
"""

import os
import uuid

import psycopg2
import pytest

from leaderboard import create_app, database
from leaderboard.models import MODELS, database_proxy
from tests.servers import RedisServer

ADMIN_POSTGRES_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


def _admin_connection():
    connection = psycopg2.connect(ADMIN_POSTGRES_URL, connect_timeout=3)
    connection.autocommit = True
    return connection


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory):
    server = RedisServer(tmp_path_factory.mktemp("redis")).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def postgres_database():
    """Create a PostgreSQL database for this test session; return its URL."""
    name = f"leaderboard_test_{uuid.uuid4().hex[:10]}"
    connection = _admin_connection()
    with connection.cursor() as cursor:
        cursor.execute(f'CREATE DATABASE "{name}"')
    connection.close()
    base = ADMIN_POSTGRES_URL.rsplit("/", 1)[0]
    yield f"{base}/{name}"
    connection = _admin_connection()
    with connection.cursor() as cursor:
        cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    connection.close()


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'leaderboard.db'}"
    url = request.getfixturevalue("postgres_database")
    return url


@pytest.fixture
def redis_url(redis_server):
    """A Redis database of the private server, emptied before each test."""
    import redis

    client = redis.Redis.from_url(redis_server.url(1))
    client.flushdb()
    client.close()
    return redis_server.url(1)


def make_app(database_url, redis_url, **overrides):
    settings = {
        "TESTING": True,
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "REDIS_KEY_PREFIX": "lbtest",
        "RQ_QUEUE_NAME": "leaderboard-test",
        "RETRY_INTERVALS_SECONDS": [1, 1],
        "LOG_LEVEL": "WARNING",
        "RQ_DASHBOARD_USERNAME": None,
        "RQ_DASHBOARD_PASSWORD": None,
    }
    settings.update(overrides)
    return create_app(settings)


def reset_tables(app):
    db = app.extensions["database"]
    database.migrate(db)
    with db.connection_context():
        for model in reversed(MODELS):
            model.delete().execute()


@pytest.fixture
def app(database_url, redis_url):
    app = make_app(database_url, redis_url)
    reset_tables(app)
    with app.app_context():
        yield app
    app.extensions["database"].close()
    app.extensions["redis"].close()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


@pytest.fixture
def repository(app):
    return app.extensions["repository"]


@pytest.fixture
def award_queue(app):
    return app.extensions["award_queue"]


@pytest.fixture
def db(app):
    with database_proxy.obj.connection_context():
        yield database_proxy.obj
