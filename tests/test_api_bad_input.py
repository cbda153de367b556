"""Malformed or rejected requests against every endpoint: each gets its 4xx and changes nothing.

After each request the test compares Redis (every key, its type and contents), the award
outbox, the RQ queue and the row count of every table with their state before it.
"""

import json

import pytest

from tests.helpers import award, error_of, put_user, redis_snapshot, row_counts
from workers.outbox import OutboxPump

AWARD = "/api/leaderboard/award"
BOARD = "/api/leaderboard"
VALID_AWARD = {"user_id": 1, "points": 5, "source": "test"}
# Size of the oversized bodies, larger than the default MAX_CONTENT_LENGTH of 16 KiB.
OVERSIZED = 64 * 1024
# Marker value that makes award_body() leave the field out of the body.
MISSING = object()


def award_body(**changes):
    """Return a valid award body as JSON text, with the given fields replaced or left out."""
    body = {**VALID_AWARD, **changes}
    return json.dumps({name: value for name, value in body.items() if value is not MISSING})


def case(case_id, method, path, status, field=None, body=None, content_type="application/json", headers=None):
    """Describe one malformed request. For a 422, field is the name that `fields` must contain."""
    return pytest.param(method, path, body, content_type, headers or {}, status, field, id=case_id)


CASES = [
    # POST /api/leaderboard/award: wrong types
    case("award-user-id-true", "post", AWARD, 422, "user_id", award_body(user_id=True)),
    case("award-user-id-false", "post", AWARD, 422, "user_id", award_body(user_id=False)),
    case("award-user-id-numeric-string", "post", AWARD, 422, "user_id", award_body(user_id="1")),
    case("award-user-id-float", "post", AWARD, 422, "user_id", award_body(user_id=1.0)),
    case("award-user-id-null", "post", AWARD, 422, "user_id", award_body(user_id=None)),
    case("award-user-id-array", "post", AWARD, 422, "user_id", award_body(user_id=[1])),
    case("award-user-id-object", "post", AWARD, 422, "user_id", award_body(user_id={"id": 1})),
    case("award-user-id-missing", "post", AWARD, 422, "user_id", award_body(user_id=MISSING)),
    case("award-user-id-zero", "post", AWARD, 422, "user_id", award_body(user_id=0)),
    case("award-user-id-negative", "post", AWARD, 422, "user_id", award_body(user_id=-1)),
    case("award-user-id-2-pow-53", "post", AWARD, 422, "user_id", award_body(user_id=2**53)),
    case("award-user-id-beyond-2-pow-63", "post", AWARD, 422, "user_id", award_body(user_id=2**63 + 1)),
    case("award-user-id-beyond-2-pow-64", "post", AWARD, 422, "user_id", award_body(user_id=2**64 + 7)),
    case("award-user-id-nan", "post", AWARD, 422, "user_id",
         '{"user_id": NaN, "points": 5, "source": "test"}'),
    case("award-points-true", "post", AWARD, 422, "points", award_body(points=True)),
    case("award-points-numeric-string", "post", AWARD, 422, "points", award_body(points="50")),
    case("award-points-float-50.0", "post", AWARD, 422, "points", award_body(points=50.0)),
    case("award-points-fraction", "post", AWARD, 422, "points", award_body(points=2.5)),
    case("award-points-exponent", "post", AWARD, 422, "points",
         '{"user_id": 1, "points": 1e3, "source": "test"}'),
    case("award-points-null", "post", AWARD, 422, "points", award_body(points=None)),
    case("award-points-array", "post", AWARD, 422, "points", award_body(points=[5])),
    case("award-points-missing", "post", AWARD, 422, "points", award_body(points=MISSING)),
    case("award-points-zero", "post", AWARD, 422, "points", award_body(points=0)),
    case("award-points-above-billion", "post", AWARD, 422, "points", award_body(points=1_000_000_001)),
    case("award-points-below-minus-billion", "post", AWARD, 422, "points", award_body(points=-1_000_000_001)),
    case("award-points-beyond-2-pow-63", "post", AWARD, 422, "points", award_body(points=2**63)),
    case("award-points-below-minus-2-pow-63", "post", AWARD, 422, "points", award_body(points=-(2**63) - 1)),
    case("award-points-nan", "post", AWARD, 422, "points", '{"user_id": 1, "points": NaN, "source": "test"}'),
    case("award-points-infinity", "post", AWARD, 422, "points",
         '{"user_id": 1, "points": Infinity, "source": "test"}'),
    case("award-points-minus-infinity", "post", AWARD, 422, "points",
         '{"user_id": 1, "points": -Infinity, "source": "test"}'),
    case("award-points-overflowing-float", "post", AWARD, 422, "points",
         '{"user_id": 1, "points": 1e999, "source": "test"}'),
    case("award-source-number", "post", AWARD, 422, "source", award_body(source=5)),
    case("award-source-null", "post", AWARD, 422, "source", award_body(source=None)),
    case("award-source-empty", "post", AWARD, 422, "source", award_body(source="")),
    case("award-source-65-chars", "post", AWARD, 422, "source", award_body(source="s" * 65)),
    case("award-source-missing", "post", AWARD, 422, "source", award_body(source=MISSING)),
    case("award-source-unpaired-surrogate", "post", AWARD, 422, "source", award_body(source="shop\ud800")),
    case("award-source-nul", "post", AWARD, 422, "source", award_body(source="shop\u0000")),
    case("award-source-newline", "post", AWARD, 422, "source", award_body(source="shop\nfront")),
    case("award-source-line-separator", "post", AWARD, 422, "source", award_body(source="shop\u2028front")),
    case("award-duplicate-key", "post", AWARD, 400, body='{"user_id": 1, "points": 5, "points": 6, "source": "s"}'),
    case("award-unknown-field", "post", AWARD, 422, "bonus", award_body(bonus=1)),
    case("award-unknown-field-idempotency-key", "post", AWARD, 422, "idempotency_key",
         award_body(idempotency_key="in-body")),
    # POST /api/leaderboard/award: bodies that are not one JSON object
    case("award-empty-body", "post", AWARD, 400, body=""),
    case("award-whitespace-body", "post", AWARD, 400, body="  \r\n\t "),
    case("award-truncated-body", "post", AWARD, 400, body=award_body()[:-1]),
    case("award-truncated-mid-string", "post", AWARD, 400, body='{"user_id": 1, "points": 5, "source": "te'),
    case("award-trailing-garbage", "post", AWARD, 400, body=award_body() + " x"),
    case("award-not-utf8", "post", AWARD, 400, body=b'{"user_id": 1, "points": 5, "source": "\xff"}'),
    case("award-top-level-array", "post", AWARD, 400, body=f"[{award_body()}]"),
    case("award-top-level-string", "post", AWARD, 400, body='"award"'),
    case("award-top-level-number", "post", AWARD, 400, body="5"),
    case("award-top-level-null", "post", AWARD, 400, body="null"),
    case("award-top-level-nan", "post", AWARD, 400, body="NaN"),
    case("award-deeply-nested", "post", AWARD, 400, body="[" * 5000 + "]" * 5000),
    case("award-deeply-nested-field", "post", AWARD, 400,
         body='{"user_id": 1, "points": 5, "source": ' + "[" * 5000 + "]" * 5000 + "}"),
    # POST /api/leaderboard/award: headers and size
    case("award-no-content-type", "post", AWARD, 415, body=award_body(), content_type=None),
    case("award-text-plain", "post", AWARD, 415, body=award_body(), content_type="text/plain"),
    case("award-form-encoded", "post", AWARD, 415, body="user_id=1&points=5&source=test",
         content_type="application/x-www-form-urlencoded"),
    case("award-oversized-body", "post", AWARD, 413, body=award_body(source="s" * OVERSIZED)),
    case("award-oversized-whitespace", "post", AWARD, 413, body=award_body() + " " * OVERSIZED),
    case("award-idempotency-key-256-chars", "post", AWARD, 422, "Idempotency-Key", body=award_body(),
         headers={"Idempotency-Key": "k" * 256}),
    case("award-idempotency-key-empty", "post", AWARD, 422, "Idempotency-Key", body=award_body(),
         headers={"Idempotency-Key": ""}),
    case("award-idempotency-key-control-char", "post", AWARD, 422, "Idempotency-Key", body=award_body(),
         headers={"Idempotency-Key": "key\x01"}),
    case("award-unregistered-user", "post", AWARD, 404, body=award_body(user_id=3)),
    # PUT /api/users/<id>
    case("put-username-number", "put", "/api/users/3", 422, "username", json.dumps({"username": 3})),
    case("put-username-true", "put", "/api/users/3", 422, "username", json.dumps({"username": True})),
    case("put-username-null", "put", "/api/users/3", 422, "username", json.dumps({"username": None})),
    case("put-username-empty", "put", "/api/users/3", 422, "username", json.dumps({"username": ""})),
    case("put-username-65-chars", "put", "/api/users/3", 422, "username", json.dumps({"username": "u" * 65})),
    case("put-username-newline", "put", "/api/users/3", 422, "username", json.dumps({"username": "a\nb"})),
    case("put-username-spaces", "put", "/api/users/3", 422, "username", json.dumps({"username": "   "})),
    case("put-username-c1-control", "put", "/api/users/3", 422, "username",
         json.dumps({"username": "a\x85b"})),
    case("put-username-unpaired-surrogate", "put", "/api/users/3", 422, "username",
         json.dumps({"username": "\udc00carol"})),
    case("put-username-missing", "put", "/api/users/3", 422, "username", json.dumps({})),
    case("put-unknown-field", "put", "/api/users/3", 422, "email",
         json.dumps({"username": "carol", "email": "carol@example.com"})),
    case("put-rename-invalid", "put", "/api/users/1", 422, "username", json.dumps({"username": "\t"})),
    case("put-id-zero", "put", "/api/users/0", 422, "user_id", json.dumps({"username": "carol"})),
    case("put-id-negative", "put", "/api/users/-1", 422, "user_id", json.dumps({"username": "carol"})),
    case("put-id-letters", "put", "/api/users/abc", 422, "user_id", json.dumps({"username": "carol"})),
    case("put-id-fraction", "put", "/api/users/1.5", 422, "user_id", json.dumps({"username": "carol"})),
    case("put-id-2-pow-64", "put", f"/api/users/{2**64}", 422, "user_id", json.dumps({"username": "carol"})),
    case("put-id-30-digits", "put", f"/api/users/{10**29}", 422, "user_id",
         json.dumps({"username": "carol"})),
    case("put-empty-body", "put", "/api/users/3", 400, body=""),
    case("put-truncated-body", "put", "/api/users/3", 400, body='{"username": "car'),
    case("put-top-level-array", "put", "/api/users/3", 400, body='["carol"]'),
    case("put-top-level-string", "put", "/api/users/3", 400, body='"carol"'),
    case("put-deeply-nested", "put", "/api/users/3", 400,
         body='{"username": ' + "[" * 5000 + "]" * 5000 + "}"),
    case("put-no-content-type", "put", "/api/users/3", 415, body=json.dumps({"username": "carol"}),
         content_type=None),
    case("put-wrong-content-type", "put", "/api/users/3", 415, body=json.dumps({"username": "carol"}),
         content_type="text/plain"),
    case("put-oversized-body", "put", "/api/users/3", 413, body=json.dumps({"username": "u" * OVERSIZED})),
    case("put-taken-username", "put", "/api/users/3", 409, body=json.dumps({"username": "alice"})),
    # GET /api/users/<id>
    case("get-user-id-zero", "get", "/api/users/0", 422, "user_id"),
    case("get-user-id-negative", "get", "/api/users/-1", 422, "user_id"),
    case("get-user-id-letters", "get", "/api/users/abc", 422, "user_id"),
    case("get-user-id-fraction", "get", "/api/users/1.5", 422, "user_id"),
    case("get-user-id-exponent", "get", "/api/users/1e3", 422, "user_id"),
    case("get-user-id-plus-sign", "get", "/api/users/+1", 422, "user_id"),
    case("get-user-id-space", "get", "/api/users/%201", 422, "user_id"),
    case("get-user-id-arabic-digit", "get", "/api/users/%D9%A1", 422, "user_id"),
    case("get-user-id-2-pow-53", "get", f"/api/users/{2**53}", 422, "user_id"),
    case("get-user-id-2-pow-64", "get", f"/api/users/{2**64}", 422, "user_id"),
    case("get-user-id-missing", "get", "/api/users/", 404),
    # GET /api/leaderboard
    case("board-limit-zero", "get", f"{BOARD}?limit=0", 422, "limit"),
    case("board-limit-1001", "get", f"{BOARD}?limit=1001", 422, "limit"),
    case("board-limit-negative", "get", f"{BOARD}?limit=-5", 422, "limit"),
    case("board-limit-letters", "get", f"{BOARD}?limit=ten", 422, "limit"),
    case("board-limit-fraction", "get", f"{BOARD}?limit=10.5", 422, "limit"),
    case("board-limit-float-10.0", "get", f"{BOARD}?limit=10.0", 422, "limit"),
    case("board-limit-empty", "get", f"{BOARD}?limit=", 422, "limit"),
    case("board-limit-beyond-2-pow-63", "get", f"{BOARD}?limit={2**63 + 1}", 422, "limit"),
    case("board-offset-negative", "get", f"{BOARD}?offset=-1", 422, "offset"),
    case("board-offset-letters", "get", f"{BOARD}?offset=first", 422, "offset"),
    case("board-offset-2-pow-64", "get", f"{BOARD}?offset={2**64}", 422, "offset"),
    case("board-offset-30-digits", "get", f"{BOARD}?offset={10**29}", 422, "offset"),
    case("board-wrong-method", "post", BOARD, 405, body=award_body()),
    # GET /api/leaderboard/user/<id>
    case("rank-id-zero", "get", f"{BOARD}/user/0", 422, "user_id"),
    case("rank-id-negative", "get", f"{BOARD}/user/-1", 422, "user_id"),
    case("rank-id-letters", "get", f"{BOARD}/user/abc", 422, "user_id"),
    case("rank-id-fraction", "get", f"{BOARD}/user/1.5", 422, "user_id"),
    case("rank-id-beyond-2-pow-63", "get", f"{BOARD}/user/{2**63 + 1}", 422, "user_id"),
    case("rank-id-30-digits", "get", f"{BOARD}/user/{10**29}", 422, "user_id"),
    case("rank-id-hex", "get", f"{BOARD}/user/0x10", 422, "user_id"),
    case("rank-wrong-method", "delete", f"{BOARD}/user/1", 405),
]


@pytest.fixture
def populated(client, app, repository, award_queue):
    """Give Redis and the database some of every kind of state: users, totals, an
    idempotency key, an award job in the RQ queue and an award in the outbox."""
    assert put_user(client, 1, "alice").status_code == 201
    assert put_user(client, 2, "bob").status_code == 201
    assert award(client, 1, 50, headers={"Idempotency-Key": "first-award"}).status_code == 202
    pump = OutboxPump(repository, award_queue, batch_size=100, poll_interval_seconds=1)
    assert pump.pump_once() == 1
    assert award(client, 2, 20).status_code == 202
    return client


def state_of(app, repository, award_queue):
    return {
        "redis": redis_snapshot(app.extensions["redis"]),
        "outbox": repository.outbox_awards(),
        "queue": award_queue.queue.get_job_ids(),
        "rows": row_counts(),
    }


def test_populated_state_is_not_empty(populated, app, repository, award_queue):
    state = state_of(app, repository, award_queue)

    assert len(state["outbox"]) == 1
    assert len(state["queue"]) == 1
    assert state["rows"]["users"] == 2
    assert any(key.startswith(b"lbtest:idempotency:") for key in state["redis"])


@pytest.mark.parametrize("method, path, body, content_type, headers, status, field", CASES)
def test_bad_request_changes_nothing(
    populated, app, repository, award_queue, method, path, body, content_type, headers, status, field
):
    before = state_of(app, repository, award_queue)

    options = {"headers": headers}
    if body is not None:
        options.update(data=body, content_type=content_type)
    response = getattr(populated, method)(path, **options)

    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/json"
    error = error_of(response)
    assert isinstance(error["code"], str)
    assert isinstance(error["message"], str)
    if status == 422:
        assert set(error["fields"]) == {field}

    after = state_of(app, repository, award_queue)
    assert after["redis"] == before["redis"]
    assert after["outbox"] == before["outbox"]
    assert after["queue"] == before["queue"]
    assert after["rows"] == before["rows"]
