"""API tests of PUT and GET /api/users/<id>: register, rename, read, username rules."""

import pytest

from tests.helpers import award, error_of, put_user


def test_put_registers_new_user(client):
    response = put_user(client, 7, "alice")

    assert response.status_code == 201
    body = response.get_json()
    assert body["user_id"] == 7
    assert body["username"] == "alice"
    assert isinstance(body["created_at"], str)


def test_put_renames_existing_user(client):
    put_user(client, 7, "alice")

    response = put_user(client, 7, "alicia")

    assert response.status_code == 200
    assert response.get_json()["username"] == "alicia"
    assert client.get("/api/users/7").get_json()["username"] == "alicia"


def test_rename_shows_on_board(client):
    put_user(client, 7, "alice")
    award(client, 7, 10)

    put_user(client, 7, "alicia")

    assert client.get("/api/leaderboard/user/7").get_json()["username"] == "alicia"
    assert client.get("/api/leaderboard").get_json()["entries"][0]["username"] == "alicia"


def test_rename_frees_old_username(client):
    put_user(client, 7, "alice")
    put_user(client, 7, "alicia")

    response = put_user(client, 8, "alice")

    assert response.status_code == 201


def test_same_username_again_is_200(client):
    first = put_user(client, 7, "alice").get_json()

    response = put_user(client, 7, "alice")

    assert response.status_code == 200
    assert response.get_json()["username"] == "alice"
    assert response.get_json()["created_at"] == first["created_at"]


def test_username_of_other_user_is_409(client):
    put_user(client, 7, "alice")

    response = put_user(client, 8, "alice")

    assert response.status_code == 409
    assert error_of(response)["code"] == "username_taken"
    assert "alice" in error_of(response)["message"]


def test_taken_username_changes_nothing(client):
    put_user(client, 7, "alice")
    put_user(client, 8, "bob")

    put_user(client, 8, "alice")
    put_user(client, 9, "alice")

    assert client.get("/api/users/7").get_json()["username"] == "alice"
    assert client.get("/api/users/8").get_json()["username"] == "bob"
    assert client.get("/api/users/9").status_code == 404


def test_get_returns_registered_user(client):
    created = put_user(client, 7, "alice").get_json()

    response = client.get("/api/users/7")

    assert response.status_code == 200
    assert response.get_json() == created


def test_get_unknown_user_is_404(client):
    put_user(client, 7, "alice")

    response = client.get("/api/users/8")

    assert response.status_code == 404
    assert error_of(response)["code"] == "user_not_found"


def test_user_ids_up_to_max_safe_integer(client):
    largest = 2**53 - 1

    assert put_user(client, largest, "largest").status_code == 201
    assert client.get(f"/api/users/{largest}").get_json()["user_id"] == largest


@pytest.mark.parametrize(
    "username",
    ["a", "x" * 64, "é" * 64, "Zoë O'Brien", "user name", "名前"],
    ids=["one-char", "64-ascii", "64-non-ascii", "punctuation", "inner-space", "cjk"],
)
def test_valid_username_is_accepted(client, username):
    response = put_user(client, 7, username)

    assert response.status_code == 201
    assert client.get("/api/users/7").get_json()["username"] == username


@pytest.mark.parametrize(
    "username",
    [
        "",
        "x" * 65,
        "é" * 65,
        "a\nb",
        "a\tb",
        "a\x00b",
        "a\x7fb",
        "a\x85b",
        "a\x9fb",
        "a\ud800b",
        " ",
        "   ",
        "\u00a0\u3000",
        42,
        True,
        None,
        ["alice"],
        {"name": "alice"},
    ],
    ids=[
        "empty",
        "65-ascii",
        "65-non-ascii",
        "newline",
        "tab",
        "nul",
        "delete-char",
        "c1-next-line",
        "c1-last",
        "unpaired-surrogate",
        "one-space",
        "spaces-only",
        "unicode-spaces-only",
        "integer",
        "boolean",
        "null",
        "array",
        "object",
    ],
)
def test_invalid_username_is_422(client, username):
    response = put_user(client, 7, username)

    assert response.status_code == 422
    assert error_of(response)["code"] == "validation_failed"
    assert set(error_of(response)["fields"]) == {"username"}
    assert client.get("/api/users/7").status_code == 404


def test_missing_username_is_422(client):
    response = client.put("/api/users/7", json={})

    assert response.status_code == 422
    assert set(error_of(response)["fields"]) == {"username"}


def test_invalid_rename_keeps_old_name(client):
    put_user(client, 7, "alice")

    response = put_user(client, 7, "   ")

    assert response.status_code == 422
    assert client.get("/api/users/7").get_json()["username"] == "alice"
