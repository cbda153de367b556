"""Settings from the environment, and the clients built from them."""

import ssl

import pytest
from playhouse.pool import PooledPostgresqlDatabase

from config import settings_from_env
from leaderboard import create_app
from leaderboard.database import connect_database


def test_defaults_without_environment():
    settings = settings_from_env({})
    assert settings["REDIS_URL"] == "redis://127.0.0.1:6379/0"
    assert settings["DATABASE_URL"].startswith("sqlite:///")
    assert settings["RETRY_INTERVALS_SECONDS"] == [2, 4, 8, 16, 32]
    assert settings["FAILED_JOB_TTL_SECONDS"] == 30 * 24 * 3600


def test_retry_intervals_from_environment():
    assert settings_from_env({"RETRY_INTERVALS_SECONDS": "1,3"})["RETRY_INTERVALS_SECONDS"] == [1, 3]


@pytest.mark.parametrize(
    "name, value",
    [("RETRY_INTERVALS_SECONDS", "2,x"), ("RETRY_INTERVALS_SECONDS", "-1"), ("JOB_TIMEOUT_SECONDS", "soon")],
)
def test_invalid_setting_names_variable(name, value):
    with pytest.raises(ValueError) as raised:
        settings_from_env({name: value})
    assert name in str(raised.value)


@pytest.mark.parametrize("scheme", ["postgres", "postgresql"])
def test_postgres_url_passes_query_parameters(scheme):
    database = connect_database(f"{scheme}://user:pw@db.example:6543/board?sslmode=require")
    assert database.database == "board"
    assert database.connect_params["sslmode"] == "require"
    assert database.connect_params["port"] == 6543


def test_pooled_postgres_url():
    database = connect_database("postgresql+pool://user@127.0.0.1/board?max_connections=5")
    assert isinstance(database, PooledPostgresqlDatabase)


def test_unknown_database_scheme_rejected():
    with pytest.raises(ValueError) as raised:
        connect_database("mysql://127.0.0.1/board")
    assert "DATABASE_URL" in str(raised.value)


def test_redis_database_number_used(tmp_path):
    app = create_app({"REDIS_URL": "redis://127.0.0.1:6399/7", "DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}"})
    assert app.extensions["redis"].connection_pool.connection_kwargs["db"] == 7


def test_rediss_checks_certificates_by_default(tmp_path):
    app = create_app({"REDIS_URL": "rediss://cache.example:6380/0", "DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}"})
    kwargs = app.extensions["redis"].connection_pool.connection_kwargs
    assert kwargs.get("ssl_cert_reqs", "required") in ("required", ssl.CERT_REQUIRED)


def test_rediss_relaxed_only_when_url_says(tmp_path):
    url = "rediss://cache.example:6380/0?ssl_cert_reqs=none"
    app = create_app({"REDIS_URL": url, "DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}"})
    kwargs = app.extensions["redis"].connection_pool.connection_kwargs
    assert kwargs["ssl_cert_reqs"] in ("none", ssl.CERT_NONE)


def test_database_down_gives_fast_503(redis_url):
    """Nothing listens on the port, as when PostgreSQL is stopped: user calls fail fast with 503."""
    import time

    from tests.servers import free_port

    app = create_app({"REDIS_URL": redis_url, "DATABASE_URL": f"postgresql://postgres@127.0.0.1:{free_port()}/none"})
    client = app.test_client()
    started = time.monotonic()
    response = client.put("/api/users/1", json={"username": "ann"})
    elapsed = time.monotonic() - started
    assert response.status_code == 503
    assert response.get_json()["error"]["code"] == "database_unavailable"
    assert elapsed < 2
    assert client.get("/api/users/1").status_code == 503
