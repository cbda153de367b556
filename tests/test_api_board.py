"""API tests of awards, the board page and a user's standing."""

import uuid

import pytest

from tests.helpers import award, error_of, put_user, set_total

MAX_SAFE_INTEGER = 2**53 - 1


def standing_of(client, user_id):
    return client.get(f"/api/leaderboard/user/{user_id}").get_json()


def register(client, *user_ids):
    for user_id in user_ids:
        assert put_user(client, user_id, f"user-{user_id}").status_code == 201


def award_all(client, totals):
    """Award {user id: points} in one request per user."""
    for user_id, points in totals.items():
        assert award(client, user_id, points).status_code == 202


# Awards


def test_award_returns_every_field(client):
    register(client, 1, 2)
    award(client, 2, 80)

    response = award(client, 1, 50, source="purchase")

    assert response.status_code == 202
    body = response.get_json()
    assert set(body) == {"transaction_id", "user_id", "points", "source", "score", "rank"}
    assert str(uuid.UUID(body["transaction_id"])) == body["transaction_id"]
    assert body["user_id"] == 1
    assert body["points"] == 50
    assert body["source"] == "purchase"
    assert body["score"] == 50
    assert body["rank"] == 2


def test_award_adds_to_total(client):
    register(client, 1)
    award(client, 1, 50)

    body = award(client, 1, 25).get_json()

    assert body["score"] == 75
    assert body["rank"] == 1
    assert standing_of(client, 1)["score"] == 75


def test_awards_get_distinct_transaction_ids(client):
    register(client, 1)

    first = award(client, 1, 5).get_json()["transaction_id"]
    second = award(client, 1, 5).get_json()["transaction_id"]

    assert first != second


def test_award_queues_one_outbox_record(client, repository):
    register(client, 1)

    award(client, 1, 50, source="purchase")

    assert repository.outbox_length() == 1
    queued = repository.outbox_awards()[0]
    assert (queued.user_id, queued.points, queued.source) == (1, 50, "purchase")


def test_negative_points_correct_total(client):
    register(client, 1)
    award(client, 1, 100)

    response = award(client, 1, -30, source="correction")

    assert response.status_code == 202
    assert response.get_json()["points"] == -30
    assert response.get_json()["score"] == 70
    assert standing_of(client, 1)["score"] == 70


def test_correction_below_zero_ranks_last(client):
    register(client, 1, 2)
    award(client, 1, 10)
    award(client, 2, 5)

    body = award(client, 2, -20).get_json()

    assert body["score"] == -15
    assert body["rank"] == 2
    assert standing_of(client, 2)["score"] == -15


def test_award_bounds_of_points(client):
    register(client, 1)

    assert award(client, 1, 1_000_000_000).get_json()["score"] == 1_000_000_000
    assert award(client, 1, -1_000_000_000).get_json()["score"] == 0


def test_award_reaches_exact_limit(client, repository):
    register(client, 1, 2)
    # Reaching the limit through the API would take about nine million awards of 10^9.
    set_total(repository, 1, MAX_SAFE_INTEGER - 10)
    set_total(repository, 2, -(MAX_SAFE_INTEGER - 10))

    high = award(client, 1, 10)
    low = award(client, 2, -10)

    assert high.status_code == 202
    assert high.get_json()["score"] == MAX_SAFE_INTEGER
    assert low.status_code == 202
    assert low.get_json()["score"] == -MAX_SAFE_INTEGER
    assert standing_of(client, 1)["score"] == MAX_SAFE_INTEGER
    assert standing_of(client, 2)["score"] == -MAX_SAFE_INTEGER


@pytest.mark.parametrize(
    "start, points",
    [
        (MAX_SAFE_INTEGER, 1),
        (MAX_SAFE_INTEGER - 10, 11),
        (MAX_SAFE_INTEGER - 5, 1_000_000_000),
        (-MAX_SAFE_INTEGER, -1),
        (-(MAX_SAFE_INTEGER - 10), -11),
        (-(MAX_SAFE_INTEGER - 5), -1_000_000_000),
    ],
    ids=["max-plus-1", "near-max-plus-11", "near-max-plus-billion",
         "min-minus-1", "near-min-minus-11", "near-min-minus-billion"],
)
def test_total_beyond_limit_is_422(client, repository, start, points):
    register(client, 1)
    set_total(repository, 1, start)
    outbox_before = repository.outbox_length()

    response = award(client, 1, points)

    assert response.status_code == 422
    assert error_of(response)["code"] == "score_out_of_range"
    assert set(error_of(response)["fields"]) == {"points"}
    assert standing_of(client, 1)["score"] == start
    assert repository.outbox_length() == outbox_before


def test_unregistered_user_award_is_404(client, repository):
    register(client, 1)
    award(client, 1, 10)
    outbox_before = repository.outbox_length()

    response = award(client, 2, 50)

    assert response.status_code == 404
    assert error_of(response)["code"] == "user_not_found"
    assert repository.outbox_length() == outbox_before
    assert client.get("/api/leaderboard").get_json()["total"] == 1
    assert client.get("/api/leaderboard/user/2").status_code == 404


# The board page


def test_board_lists_users_by_score(client):
    register(client, 1, 2, 3)
    award_all(client, {1: 10, 2: 30, 3: 20})

    body = client.get("/api/leaderboard").get_json()

    assert [entry["user_id"] for entry in body["entries"]] == [2, 3, 1]
    assert [entry["rank"] for entry in body["entries"]] == [1, 2, 3]
    assert body["entries"][0] == {"rank": 1, "user_id": 2, "username": "user-2", "score": 30}


def test_board_page_fields(client):
    register(client, 1)
    award(client, 1, 10)

    body = client.get("/api/leaderboard?limit=5&offset=0").get_json()

    assert set(body) == {"entries", "limit", "offset", "total"}
    assert body["limit"] == 5
    assert body["offset"] == 0
    assert body["total"] == 1


def test_board_pages_with_limit_offset(client):
    register(client, 1, 2, 3, 4, 5)
    award_all(client, {1: 50, 2: 40, 3: 30, 4: 20, 5: 10})

    first = client.get("/api/leaderboard?limit=2&offset=0").get_json()
    middle = client.get("/api/leaderboard?limit=2&offset=2").get_json()
    last = client.get("/api/leaderboard?limit=2&offset=4").get_json()
    beyond = client.get("/api/leaderboard?limit=2&offset=10").get_json()

    assert [entry["user_id"] for entry in first["entries"]] == [1, 2]
    assert [entry["user_id"] for entry in middle["entries"]] == [3, 4]
    assert [entry["rank"] for entry in middle["entries"]] == [3, 4]
    assert [entry["user_id"] for entry in last["entries"]] == [5]
    assert beyond["entries"] == []
    assert {first["total"], middle["total"], last["total"], beyond["total"]} == {5}
    assert (middle["limit"], middle["offset"]) == (2, 2)


def test_board_default_limit_is_100(client):
    user_ids = range(1, 102)
    register(client, *user_ids)
    award_all(client, {user_id: user_id for user_id in user_ids})

    body = client.get("/api/leaderboard").get_json()

    assert body["limit"] == 100
    assert body["offset"] == 0
    assert body["total"] == 101
    assert len(body["entries"]) == 100
    assert body["entries"][-1]["user_id"] == 2


def test_board_limit_bounds_accepted(client):
    register(client, 1, 2)
    award_all(client, {1: 10, 2: 5})

    smallest = client.get("/api/leaderboard?limit=1")
    largest = client.get("/api/leaderboard?limit=1000")

    assert smallest.status_code == 200
    assert len(smallest.get_json()["entries"]) == 1
    assert largest.status_code == 200
    assert largest.get_json()["limit"] == 1000


@pytest.mark.parametrize(
    "query, field",
    [
        ("limit=0", "limit"),
        ("limit=1001", "limit"),
        ("limit=-1", "limit"),
        ("limit=ten", "limit"),
        ("limit=", "limit"),
        ("offset=-1", "offset"),
        ("offset=1.5", "offset"),
        ("offset=", "offset"),
    ],
    ids=["limit-0", "limit-1001", "limit-negative", "limit-word", "limit-empty",
         "offset-negative", "offset-fraction", "offset-empty"],
)
def test_board_query_out_of_range(client, query, field):
    response = client.get(f"/api/leaderboard?{query}")

    assert response.status_code == 422
    assert set(error_of(response)["fields"]) == {field}


def test_board_omits_users_without_points(client):
    register(client, 1, 2)
    award(client, 1, 10)

    body = client.get("/api/leaderboard").get_json()

    assert [entry["user_id"] for entry in body["entries"]] == [1]
    assert body["total"] == 1


def test_empty_board(client):
    response = client.get("/api/leaderboard")

    assert response.status_code == 200
    assert response.get_json() == {"entries": [], "limit": 100, "offset": 0, "total": 0}


# Ranking


def test_ties_share_competition_rank(client):
    register(client, 1, 2, 3, 4)
    award_all(client, {1: 100, 2: 50, 3: 50, 4: 10})

    entries = client.get("/api/leaderboard").get_json()["entries"]

    assert [entry["rank"] for entry in entries] == [1, 2, 2, 4]


def test_ties_ordered_by_user_id(client):
    # 256 and 70000 take more bytes than 2 and 10 in the board's member encoding.
    user_ids = [70000, 300, 10, 256, 2]
    register(client, *user_ids)
    award_all(client, {user_id: 50 for user_id in user_ids})

    entries = client.get("/api/leaderboard").get_json()["entries"]

    assert [entry["user_id"] for entry in entries] == [2, 10, 256, 300, 70000]
    assert {entry["rank"] for entry in entries} == {1}


def test_tie_rank_across_pages(client):
    register(client, 1, 2, 3, 4, 5)
    award_all(client, {1: 100, 2: 50, 3: 50, 4: 50, 5: 10})

    page = client.get("/api/leaderboard?limit=2&offset=2").get_json()["entries"]

    assert [entry["user_id"] for entry in page] == [3, 4]
    assert [entry["rank"] for entry in page] == [2, 2]


def test_page_starting_after_tie(client):
    register(client, 1, 2, 3, 4)
    award_all(client, {1: 100, 2: 50, 3: 50, 4: 10})

    page = client.get("/api/leaderboard?limit=1&offset=3").get_json()["entries"]

    assert page[0]["user_id"] == 4
    assert page[0]["rank"] == 4


def test_user_rank_matches_board(client):
    register(client, 1, 2, 3, 4, 5)
    award_all(client, {1: 100, 2: 50, 3: 50, 4: 10, 5: -5})

    entries = client.get("/api/leaderboard").get_json()["entries"]

    for entry in entries:
        standing = standing_of(client, entry["user_id"])
        assert standing == entry, f"user {entry['user_id']}"


def test_award_rank_matches_board(client):
    register(client, 1, 2, 3)
    award_all(client, {1: 100, 2: 50})

    body = award(client, 3, 50).get_json()

    assert body["rank"] == 2
    assert standing_of(client, 3)["rank"] == 2


# A user's standing


def test_standing_of_ranked_user(client):
    register(client, 1, 2)
    award_all(client, {1: 10, 2: 20})

    response = client.get("/api/leaderboard/user/1")

    assert response.status_code == 200
    assert response.get_json() == {"user_id": 1, "username": "user-1", "rank": 2, "score": 10}


def test_user_without_points_has_null_rank(client):
    register(client, 1, 2)
    award(client, 2, 20)

    response = client.get("/api/leaderboard/user/1")

    assert response.status_code == 200
    assert response.get_json() == {"user_id": 1, "username": "user-1", "rank": None, "score": 0}


def test_standing_unknown_user_is_404(client):
    register(client, 1)

    response = client.get("/api/leaderboard/user/2")

    assert response.status_code == 404
    assert error_of(response)["code"] == "user_not_found"


def test_scores_are_json_integers(client, repository):
    register(client, 1, 2)
    set_total(repository, 2, MAX_SAFE_INTEGER - 1)

    awarded = award(client, 1, 7).get_json()
    entries = client.get("/api/leaderboard").get_json()["entries"]
    standing = standing_of(client, 2)

    assert type(awarded["score"]) is int
    assert all(type(entry["score"]) is int for entry in entries)
    assert type(standing["score"]) is int
    assert standing["score"] == MAX_SAFE_INTEGER - 1
    assert entries[0]["score"] == MAX_SAFE_INTEGER - 1


def test_zero_total_after_correction_stays_ranked(client):
    register(client, 1, 2)
    award_all(client, {1: 10, 2: -5})

    body = award(client, 1, -10).get_json()

    assert body["score"] == 0
    assert body["rank"] == 1
    assert standing_of(client, 1) == {"user_id": 1, "username": "user-1", "rank": 1, "score": 0}


def test_large_user_ids_on_board(client):
    # The board script decodes each id from its member bytes and derives the username key from it.
    user_ids = [MAX_SAFE_INTEGER, 2**40 + 7, 12_345_678_901]
    register(client, *user_ids)
    award_all(client, {MAX_SAFE_INTEGER: 30, 2**40 + 7: 20, 12_345_678_901: 10})

    entries = client.get("/api/leaderboard").get_json()["entries"]

    assert [entry["user_id"] for entry in entries] == user_ids
    assert [entry["username"] for entry in entries] == [f"user-{user_id}" for user_id in user_ids]
    assert standing_of(client, MAX_SAFE_INTEGER)["rank"] == 1


def test_board_offset_far_beyond_total(client):
    register(client, 1)
    award(client, 1, 10)

    response = client.get(f"/api/leaderboard?offset={MAX_SAFE_INTEGER}&limit=1000")

    assert response.status_code == 200
    assert response.get_json()["entries"] == []
    assert response.get_json()["total"] == 1
