"""rq-dashboard mounted at /rq behind HTTP basic auth."""

import base64

import pytest

from tests.conftest import make_app, reset_tables


def basic(username, password):
    token = base64.b64encode(f"{username}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


@pytest.fixture
def dashboard_client(tmp_path, redis_url):
    app = make_app(
        f"sqlite:///{tmp_path / 'dashboard.db'}",
        redis_url,
        RQ_DASHBOARD_USERNAME="ops",
        RQ_DASHBOARD_PASSWORD="s3cret",
    )
    reset_tables(app)
    return app.test_client()


def test_dashboard_requires_credentials(dashboard_client):
    response = dashboard_client.get("/rq/")
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Basic")
    assert response.get_json()["error"]["code"] == "unauthorized"


def test_dashboard_rejects_wrong_password(dashboard_client):
    assert dashboard_client.get("/rq/", headers=basic("ops", "wrong")).status_code == 401


def test_dashboard_serves_with_credentials(dashboard_client):
    response = dashboard_client.get("/rq/", headers=basic("ops", "s3cret"))
    assert response.status_code == 200
    assert b"RQ" in response.data


def test_dashboard_lists_queues_with_credentials(dashboard_client):
    response = dashboard_client.get("/rq/0/data/queues.json", headers=basic("ops", "s3cret"))
    assert response.status_code == 200
    assert "queues" in response.get_json()


def test_dashboard_absent_without_credentials(client):
    assert client.get("/rq/").status_code == 404


def test_api_needs_no_dashboard_credentials(dashboard_client):
    assert dashboard_client.get("/api/leaderboard").status_code == 200


def test_dashboard_shows_service_queue(dashboard_client):
    """The dashboard reads the Redis database number from REDIS_URL, as the service does."""
    from leaderboard.awards import Award

    award_queue = dashboard_client.application.extensions["award_queue"]
    award_queue.enqueue([Award.new(1, 5, "dashboard")])
    response = dashboard_client.get("/rq/0/data/queues.json", headers=basic("ops", "s3cret"))
    names = [queue["name"] for queue in response.get_json()["queues"]]
    assert "leaderboard-test" in names
