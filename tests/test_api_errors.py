"""API tests of the error responses: one JSON shape, and the 400, 404, 405, 413 and 415 statuses."""

import http.client
import json
import subprocess
import sys

import pytest
import redis

from tests.helpers import award, error_of, post_raw, put_user
from tests.servers import REPO_ROOT, ServiceProcess, free_port, service_env, wait_for_http

AWARD_PATH = "/api/leaderboard/award"
AWARD_BODY = {"user_id": 1, "points": 5, "source": "test"}


@pytest.fixture
def registered(client):
    assert put_user(client, 1, "alice").status_code == 201
    return client


# Requests made after the `registered` fixture has made user 1, with the status each must get.
ERROR_REQUESTS = [
    pytest.param("get", "/api/nowhere", {}, 404, id="404-unknown-route"),
    pytest.param("get", "/", {}, 404, id="404-root"),
    pytest.param("get", "/api/users/2", {}, 404, id="404-unknown-user"),
    pytest.param("get", "/api/leaderboard/user/2", {}, 404, id="404-unknown-standing"),
    pytest.param(
        "post", AWARD_PATH, {"json": {**AWARD_BODY, "user_id": 2}}, 404, id="404-award-unknown-user"
    ),
    pytest.param("delete", "/api/users/1", {}, 405, id="405-delete-user"),
    pytest.param("get", AWARD_PATH, {}, 405, id="405-get-award"),
    pytest.param("post", "/api/leaderboard", {"json": AWARD_BODY}, 405, id="405-post-board"),
    pytest.param("post", "/api/users/1", {"json": {"username": "x"}}, 405, id="405-post-user"),
    pytest.param("put", "/api/users/2", {"json": {"username": "alice"}}, 409, id="409-username-taken"),
    pytest.param("post", AWARD_PATH, {"data": "{}", "content_type": "text/plain"}, 415, id="415-text-plain"),
    pytest.param("post", AWARD_PATH, {"data": "", "content_type": "application/json"}, 400, id="400-empty"),
    pytest.param(
        "post", AWARD_PATH, {"data": "x" * 20000, "content_type": "application/json"}, 413, id="413-oversized"
    ),
    pytest.param("post", AWARD_PATH, {"json": {**AWARD_BODY, "points": "5"}}, 422, id="422-award-field"),
    pytest.param("get", "/api/leaderboard?limit=0", {}, 422, id="422-query"),
    pytest.param("get", "/api/users/abc", {}, 422, id="422-path"),
]


@pytest.mark.parametrize("method, path, options, status", ERROR_REQUESTS)
def test_error_is_one_json_shape(registered, method, path, options, status):
    response = getattr(registered, method)(path, **options)

    assert response.status_code == status
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert set(body) == {"error"}
    assert set(body["error"]) <= {"code", "message", "fields"}
    assert isinstance(body["error"]["code"], str)
    assert body["error"]["code"]
    assert isinstance(body["error"]["message"], str)
    assert body["error"]["message"]


@pytest.mark.parametrize("method, path, options, status", ERROR_REQUESTS)
def test_fields_only_on_validation_errors(registered, method, path, options, status):
    error = error_of(getattr(registered, method)(path, **options))

    assert ("fields" in error) == (status == 422)


def test_405_lists_allowed_methods(client):
    response = client.delete(AWARD_PATH)

    assert response.status_code == 405
    assert "POST" in response.headers.get("Allow", "").replace(" ", "").split(",")


# 415: the Content-Type


@pytest.mark.parametrize(
    "content_type",
    [None, "text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x",
     "application/jsonx", "text/json"],
    ids=["missing", "text-plain", "form", "multipart", "jsonx", "text-json"],
)
def test_award_non_json_content_type_is_415(registered, content_type):
    response = registered.post(AWARD_PATH, data=json.dumps(AWARD_BODY), content_type=content_type)

    assert response.status_code == 415
    assert error_of(response)["code"] == "unsupported_media_type"


@pytest.mark.parametrize("content_type", [None, "text/plain"], ids=["missing", "text-plain"])
def test_user_non_json_content_type_is_415(client, content_type):
    response = client.put("/api/users/1", data='{"username": "alice"}', content_type=content_type)

    assert response.status_code == 415
    assert client.get("/api/users/1").status_code == 404


@pytest.mark.parametrize(
    "content_type",
    [
        "application/json",
        "application/json; charset=utf-8",
        "application/json;charset=UTF-8",
        "Application/JSON",
    ],
    ids=["plain", "charset", "charset-no-space", "upper-case"],
)
def test_json_content_types_accepted(registered, content_type):
    response = post_raw(registered, AWARD_PATH, AWARD_BODY, content_type=content_type)

    assert response.status_code == 202


def test_put_accepts_json_charset(client):
    response = post_raw(
        client,
        "/api/users/1",
        {"username": "alice"},
        content_type="application/json; charset=utf-8",
        method="put",
    )

    assert response.status_code == 201


# 400: a body that is not one JSON object


@pytest.mark.parametrize(
    "body",
    [b"", b"   \n", b"{", b'{"user_id": 1,}', b"{'user_id': 1}", b"user_id=1", b'{"user_id": 1} {}',
     b"\xff\xfe\x00", b"[]", b'[{"user_id": 1, "points": 5, "source": "test"}]', b'"text"', b"42", b"4.5",
     b"null", b"true"],
    ids=["empty", "whitespace", "truncated", "trailing-comma", "single-quotes", "form-encoded", "two-objects",
         "not-utf8", "empty-array", "array-of-award", "string", "integer", "float", "null", "boolean"],
)
def test_award_body_not_object_is_400(registered, repository, body):
    response = post_raw(registered, AWARD_PATH, body)

    assert response.status_code == 400
    assert error_of(response)["code"] == "invalid_request"
    assert repository.outbox_length() == 0


@pytest.mark.parametrize("body", [b"", b"not json", b'["alice"]', b'"alice"', b"7"],
                         ids=["empty", "invalid", "array", "string", "number"])
def test_user_body_not_object_is_400(client, body):
    response = post_raw(client, "/api/users/1", body, method="put")

    assert response.status_code == 400
    assert client.get("/api/users/1").status_code == 404


# 413: the body size limit


def test_body_over_limit_is_413(registered, app, repository):
    limit = app.config["MAX_CONTENT_LENGTH"]
    body = json.dumps({**AWARD_BODY, "source": "s" * limit})

    response = post_raw(registered, AWARD_PATH, body)

    assert response.status_code == 413
    assert response.mimetype == "application/json"
    assert repository.outbox_length() == 0


def test_body_one_byte_over_is_413(registered, app):
    limit = app.config["MAX_CONTENT_LENGTH"]
    body = json.dumps(AWARD_BODY).encode()
    padded = body + b" " * (limit + 1 - len(body))

    response = post_raw(registered, AWARD_PATH, padded)

    assert len(padded) == limit + 1
    assert response.status_code == 413


def test_body_at_limit_is_accepted(registered, app):
    limit = app.config["MAX_CONTENT_LENGTH"]
    body = json.dumps(AWARD_BODY).encode()
    padded = body + b" " * (limit - len(body))

    response = post_raw(registered, AWARD_PATH, padded)

    assert len(padded) == limit
    assert response.status_code == 202


def test_user_body_over_limit_is_413(client, app):
    body = json.dumps({"username": "a" * app.config["MAX_CONTENT_LENGTH"]})

    response = post_raw(client, "/api/users/1", body, method="put")

    assert response.status_code == 413
    assert client.get("/api/users/1").status_code == 404


# 413 for chunked bodies, which carry no Content-Length. Werkzeug reads such a body only
# when the server marks the stream as terminated, as gunicorn does, so these tests run
# the service in gunicorn and send real chunked requests.

CHUNKED_LIMIT_BYTES = 16 * 1024


@pytest.fixture(scope="module")
def gunicorn_port(redis_server, tmp_path_factory):
    directory = tmp_path_factory.mktemp("chunked")
    redis_url = redis_server.url(3)
    redis.Redis.from_url(redis_url).flushdb()
    env = service_env(
        DATABASE_URL=f"sqlite:///{directory / 'leaderboard.db'}",
        REDIS_URL=redis_url,
        REDIS_KEY_PREFIX="lbchunked",
        RQ_QUEUE_NAME="leaderboard-chunked",
        MAX_CONTENT_LENGTH_BYTES=CHUNKED_LIMIT_BYTES,
    )
    subprocess.run(
        [sys.executable, "-m", "flask", "--app", "wsgi", "leaderboard", "migrate"],
        cwd=REPO_ROOT, env=env, check=True, capture_output=True, timeout=60,
    )
    port = free_port()
    web = ServiceProcess.gunicorn(port, env, directory / "web.log", workers=1)
    try:
        wait_for_http(port)
        assert send(port, "PUT", "/api/users/1", b'{"username": "alice"}')[0] in (200, 201)
        yield port
    finally:
        web.stop()


def send(port, method, path, body, chunked=False):
    """Send one JSON request to 127.0.0.1:port and return (status, parsed body)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request(
            method,
            path,
            body=iter([body]) if chunked else body,
            headers={"Content-Type": "application/json"},
            encode_chunked=chunked,
        )
        response = connection.getresponse()
        return response.status, json.loads(response.read())
    finally:
        connection.close()


@pytest.mark.parametrize(
    "body",
    [
        json.dumps({**AWARD_BODY, "source": "s" * CHUNKED_LIMIT_BYTES}).encode(),
        json.dumps(AWARD_BODY).encode() + b" " * CHUNKED_LIMIT_BYTES,
    ],
    ids=["long-string", "valid-object-then-spaces"],
)
def test_chunked_body_over_limit_is_413(gunicorn_port, body):
    status, response = send(gunicorn_port, "POST", AWARD_PATH, body, chunked=True)

    assert status == 413
    assert response["error"]["code"] == "request_entity_too_large"


def test_chunked_body_at_limit_is_accepted(gunicorn_port):
    body = json.dumps(AWARD_BODY).encode()
    padded = body + b" " * (CHUNKED_LIMIT_BYTES - len(body))

    status, _ = send(gunicorn_port, "POST", AWARD_PATH, padded, chunked=True)

    assert status == 202


def test_sized_body_over_limit_in_gunicorn(gunicorn_port):
    body = json.dumps({**AWARD_BODY, "source": "s" * CHUNKED_LIMIT_BYTES}).encode()

    status, _ = send(gunicorn_port, "POST", AWARD_PATH, body)

    assert status == 413


# 400: JSON too deeply nested to parse


@pytest.mark.parametrize(
    "body",
    ["[" * 5000 + "]" * 5000, '{"user_id": 1, "points": 5, "source": ' + '{"a": ' * 2000 + "1" + "}" * 2001],
    ids=["nested-arrays", "nested-objects-in-field"],
)
def test_deeply_nested_body_is_400(registered, repository, body):
    response = post_raw(registered, AWARD_PATH, body)

    assert response.status_code == 400
    assert error_of(response)["code"] == "invalid_request"
    assert repository.outbox_length() == 0


def test_error_never_500_for_award(registered):
    # A sample of the inputs above, to show that none reaches the catch-all handler.
    responses = [
        post_raw(registered, AWARD_PATH, b"\x00"),
        post_raw(registered, AWARD_PATH, b'{"user_id": 1e999, "points": 1, "source": "x"}'),
        post_raw(registered, AWARD_PATH, b'{"user_id": {"a": 1}, "points": [], "source": {}}'),
        award(registered, 10**30, 10**30),
    ]

    for response in responses:
        assert response.status_code < 500, response.get_data(as_text=True)
