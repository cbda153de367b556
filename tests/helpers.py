"""Small request helpers shared by the API tests."""

import json


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
