"""Small request helpers shared by the API tests."""

import json

from leaderboard.models import MODELS
from leaderboard.repository import encode_member


def put_user(client, user_id, username):
    return client.put(f"/api/users/{user_id}", json={"username": username})


def award(client, user_id, points, source="test", headers=None):
    return client.post(
        "/api/leaderboard/award",
        json={"user_id": user_id, "points": points, "source": source},
        headers=headers or {},
    )


def post_raw(client, path, body, content_type="application/json", method="post", headers=None):
    data = body if isinstance(body, (bytes, str)) else json.dumps(body)
    return getattr(client, method)(path, data=data, content_type=content_type, headers=headers or {})


def error_of(response):
    """Return the "error" object of a JSON error response."""
    return response.get_json()["error"]


def redis_snapshot(connection):
    """Return {key: (type, contents, expires)} for every key of the connection's Redis database.

    Contents are read with the command that fits the type, so two snapshots compare equal
    only when no key was added, removed, retyped or changed. Whether a key expires is part
    of the snapshot, but not its remaining time, which shrinks between two snapshots.
    """
    snapshot = {}
    for key in connection.scan_iter(count=1000):
        key_type = connection.type(key).decode()
        if key_type == "string":
            contents = connection.get(key)
        elif key_type == "list":
            contents = connection.lrange(key, 0, -1)
        elif key_type == "hash":
            contents = connection.hgetall(key)
        elif key_type == "set":
            contents = sorted(connection.smembers(key))
        elif key_type == "zset":
            contents = connection.zrange(key, 0, -1, withscores=True)
        elif key_type == "stream":
            contents = connection.xrange(key)
        else:
            raise AssertionError(f"Redis key {key!r} has type {key_type!r}, which the snapshot cannot read")
        expires = connection.ttl(key) >= 0
        snapshot[key] = (key_type, contents, expires)
    return snapshot


def row_counts():
    """Return {table name: row count} for every table of the service's database."""
    return {model._meta.table_name: model.select().count() for model in MODELS}


def set_total(repository, user_id, total):
    """Write a user's total straight into the Redis board, as a rebuild would.

    Tests use it to start near the ±(2^53 - 1) limit, which awards of at most 10^9
    points would need millions of requests to reach.
    """
    repository.redis.zadd(repository.board_key, {encode_member(user_id): -total})
