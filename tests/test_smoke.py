from tests.helpers import award, put_user


def test_award_and_read(client):
    assert put_user(client, 1, "alice").status_code == 201
    response = award(client, 1, 50)
    assert response.status_code == 202
    assert client.get("/api/leaderboard/user/1").get_json()["score"] == 50
