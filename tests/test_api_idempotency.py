"""API tests of the Idempotency-Key header on POST /api/leaderboard/award."""

import pytest

from tests.helpers import award, error_of, post_raw, put_user, redis_snapshot
from tests.servers import wait_until

AWARD_PATH = "/api/leaderboard/award"
FIRST_FIELDS = ("transaction_id", "user_id", "points", "source", "score", "rank")


@pytest.fixture
def registered(client):
    assert put_user(client, 1, "alice").status_code == 201
    assert put_user(client, 2, "bob").status_code == 201
    return client


def keyed(key):
    return {"Idempotency-Key": key}


def score_of(client, user_id):
    return client.get(f"/api/leaderboard/user/{user_id}").get_json()["score"]


def test_repeat_returns_first_response(registered):
    first = award(registered, 1, 50, headers=keyed("order-17"))

    repeat = award(registered, 1, 50, headers=keyed("order-17"))

    assert first.status_code == 202
    assert repeat.status_code == 202
    for field in FIRST_FIELDS:
        assert repeat.get_json()[field] == first.get_json()[field], field


def test_repeat_counts_points_once(registered, repository):
    award(registered, 1, 50, headers=keyed("order-17"))
    outbox_after_first = repository.outbox_length()

    award(registered, 1, 50, headers=keyed("order-17"))
    award(registered, 1, 50, headers=keyed("order-17"))

    assert score_of(registered, 1) == 50
    assert outbox_after_first == 1
    assert repository.outbox_length() == 1


def test_repeat_changes_no_redis_key(registered, app):
    award(registered, 1, 50, headers=keyed("order-17"))
    before = redis_snapshot(app.extensions["redis"])

    award(registered, 1, 50, headers=keyed("order-17"))

    assert redis_snapshot(app.extensions["redis"]) == before


def test_repeat_is_marked_replayed(registered):
    first = award(registered, 1, 50, headers=keyed("order-17"))

    repeat = award(registered, 1, 50, headers=keyed("order-17"))

    assert "Idempotent-Replayed" not in first.headers
    assert repeat.headers["Idempotent-Replayed"] == "true"


def test_repeat_after_later_awards(registered):
    # The repeat returns the first response, not the user's current total and rank.
    first = award(registered, 1, 50, headers=keyed("order-17")).get_json()
    award(registered, 1, 10)
    award(registered, 2, 500)

    repeat = award(registered, 1, 50, headers=keyed("order-17")).get_json()

    assert repeat["score"] == 50
    assert repeat["rank"] == first["rank"]
    assert repeat["transaction_id"] == first["transaction_id"]
    assert score_of(registered, 1) == 60


def test_repeat_ignores_json_formatting(registered, repository):
    first = award(registered, 1, 50, source="shop", headers=keyed("order-17")).get_json()
    reordered = b'{ "source": "shop",\n  "points": 50, "user_id": 1 }'

    repeat = post_raw(registered, AWARD_PATH, reordered, headers=keyed("order-17"))

    assert repeat.status_code == 202
    assert repeat.get_json()["transaction_id"] == first["transaction_id"]
    assert repository.outbox_length() == 1


@pytest.mark.parametrize(
    "user_id, points, source",
    [(2, 50, "test"), (1, 51, "test"), (1, -50, "test"), (1, 50, "other")],
    ids=["other-user", "other-points", "negated-points", "other-source"],
)
def test_key_with_other_body_is_409(registered, app, repository, user_id, points, source):
    first = award(registered, 1, 50, headers=keyed("order-17")).get_json()
    before = redis_snapshot(app.extensions["redis"])

    response = award(registered, user_id, points, source=source, headers=keyed("order-17"))

    assert response.status_code == 409
    assert error_of(response)["code"] == "idempotency_key_reused"
    assert redis_snapshot(app.extensions["redis"]) == before
    assert repository.outbox_length() == 1
    assert score_of(registered, 1) == first["score"]


def test_reused_key_keeps_first_response(registered):
    first = award(registered, 1, 50, headers=keyed("order-17")).get_json()
    award(registered, 1, 99, headers=keyed("order-17"))

    repeat = award(registered, 1, 50, headers=keyed("order-17")).get_json()

    assert repeat["transaction_id"] == first["transaction_id"]


def test_distinct_keys_are_distinct_awards(registered, repository):
    first = award(registered, 1, 50, headers=keyed("order-17")).get_json()
    second = award(registered, 1, 50, headers=keyed("order-18")).get_json()

    assert second["transaction_id"] != first["transaction_id"]
    assert score_of(registered, 1) == 100
    assert repository.outbox_length() == 2


def test_no_key_awards_twice(registered, repository):
    first = award(registered, 1, 50).get_json()
    second = award(registered, 1, 50).get_json()

    assert second["transaction_id"] != first["transaction_id"]
    assert second["score"] == 100
    assert score_of(registered, 1) == 100
    assert repository.outbox_length() == 2


def test_keyed_award_records_key(registered, repository):
    award(registered, 1, 50, headers=keyed("order-17"))
    award(registered, 1, 50)

    keys = [queued.idempotency_key for queued in repository.outbox_awards()]

    assert keys == ["order-17", None]


def test_rejected_award_does_not_use_key(registered, repository):
    # A 404 stores nothing, so the same key works once the user exists.
    missing = award(registered, 3, 50, headers=keyed("order-17"))
    put_user(registered, 3, "carol")

    retried = award(registered, 3, 50, headers=keyed("order-17"))

    assert missing.status_code == 404
    assert retried.status_code == 202
    assert score_of(registered, 3) == 50
    assert repository.outbox_length() == 1


def test_invalid_body_does_not_use_key(registered):
    invalid = award(registered, 1, 0, headers=keyed("order-17"))

    valid = award(registered, 1, 50, headers=keyed("order-17"))

    assert invalid.status_code == 422
    assert valid.status_code == 202


@pytest.mark.parametrize(
    "key",
    ["k", "k" * 255, "3f1c9a7e-2b4d-4e8f-9a61-0c5d7e2f1b3a", "order 17/refund:2", "~!@#$%^&*()_+"],
    ids=["one-char", "255-chars", "uuid", "space-slash-colon", "punctuation"],
)
def test_valid_key_is_accepted(registered, app, key):
    response = award(registered, 1, 50, headers=keyed(key))

    assert response.status_code == 202
    assert app.extensions["redis"].exists(f"lbtest:idempotency:{key}") == 1


@pytest.mark.parametrize(
    "key",
    ["k" * 256, "k" * 1000, "", "tab\there", "bell\x07", "delete\x7f", "escape\x1b[0m"],
    ids=["256-chars", "1000-chars", "empty", "tab", "bell", "delete-char", "escape"],
)
def test_invalid_key_is_422(registered, app, repository, key):
    before = redis_snapshot(app.extensions["redis"])

    response = award(registered, 1, 50, headers=keyed(key))

    assert response.status_code == 422
    assert error_of(response)["code"] == "validation_failed"
    assert set(error_of(response)["fields"]) == {"Idempotency-Key"}
    assert redis_snapshot(app.extensions["redis"]) == before
    assert repository.outbox_length() == 0


def test_non_ascii_key_is_422(registered):
    # The test client sends header values as Latin-1, so "é" arrives as one byte above 0x7f.
    response = award(registered, 1, 50, headers=keyed("clé"))

    assert response.status_code == 422


def test_key_expires_after_default_ttl(registered, app):
    award(registered, 1, 50, headers=keyed("order-17"))

    ttl = app.extensions["redis"].ttl("lbtest:idempotency:order-17")

    configured = app.config["IDEMPOTENCY_TTL_SECONDS"]
    assert configured > 0
    assert configured - 5 <= ttl <= configured


def test_key_ttl_follows_config(registered, app):
    app.config["IDEMPOTENCY_TTL_SECONDS"] = 1234

    award(registered, 1, 50, headers=keyed("order-17"))

    ttl = app.extensions["redis"].ttl("lbtest:idempotency:order-17")
    assert 1229 <= ttl <= 1234


def test_repeat_does_not_extend_ttl(registered, app):
    app.config["IDEMPOTENCY_TTL_SECONDS"] = 1234
    award(registered, 1, 50, headers=keyed("order-17"))
    app.config["IDEMPOTENCY_TTL_SECONDS"] = 9999

    award(registered, 1, 50, headers=keyed("order-17"))

    assert app.extensions["redis"].ttl("lbtest:idempotency:order-17") <= 1234


def test_expired_key_allows_new_award(registered, app, repository):
    app.config["IDEMPOTENCY_TTL_SECONDS"] = 1
    first = award(registered, 1, 50, headers=keyed("order-17")).get_json()
    connection = app.extensions["redis"]
    wait_until(lambda: not connection.exists("lbtest:idempotency:order-17"), timeout=3, message="key expiry")

    second = award(registered, 1, 50, headers=keyed("order-17")).get_json()

    assert second["transaction_id"] != first["transaction_id"]
    assert second["score"] == 100
    assert repository.outbox_length() == 2
