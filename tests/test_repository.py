"""LeaderboardRepository against a real Redis server."""

import pytest

from leaderboard.awards import MAX_SAFE_INTEGER, Award
from leaderboard.errors import IdempotencyKeyReused, ScoreOutOfRange, UserNotFound
from leaderboard.repository import decode_member, encode_member


@pytest.fixture
def registered(repository):
    for user_id in range(1, 6):
        repository.set_username(user_id, f"user{user_id}")
    return repository


@pytest.mark.parametrize("user_id", [1, 2, 255, 256, 65535, 10**9, MAX_SAFE_INTEGER])
def test_member_encoding_round_trips(user_id):
    assert decode_member(encode_member(user_id)) == user_id


def test_member_encoding_sorts_numerically():
    ids = [1, 2, 9, 10, 255, 256, 1000, 65536, 10**12]
    assert sorted(ids, key=encode_member) == ids


def test_award_updates_score_and_outbox(registered):
    result = registered.award(Award.new(1, 40, "quest"))
    assert result.score == 40
    assert result.rank == 1
    assert registered.outbox_length() == 1


def test_award_record_matches_request(registered):
    award = Award.new(2, -7, "correction")
    registered.award(award)
    assert registered.outbox_awards() == [award]


def test_unregistered_user_writes_nothing(registered):
    with pytest.raises(UserNotFound):
        registered.award(Award.new(99, 5, "quest"))
    assert registered.outbox_length() == 0
    assert registered.board_totals() == {}


def test_range_check_writes_nothing(registered):
    registered.award(Award.new(1, MAX_SAFE_INTEGER - 10, "seed"))
    with pytest.raises(ScoreOutOfRange):
        registered.award(Award.new(1, 11, "overflow"))
    assert registered.board_totals() == {1: MAX_SAFE_INTEGER - 10}
    assert registered.outbox_length() == 1


def test_extreme_totals_stay_exact(registered):
    registered.award(Award.new(1, MAX_SAFE_INTEGER, "max"))
    registered.award(Award.new(2, -MAX_SAFE_INTEGER, "min"))
    assert registered.standing(1).score == MAX_SAFE_INTEGER
    assert registered.standing(2).score == -MAX_SAFE_INTEGER


def test_competition_ranking_with_ties(registered):
    for user_id, points in [(1, 10), (2, 30), (3, 30), (4, 5), (5, 30)]:
        registered.award(Award.new(user_id, points, "quest"))
    page, total = registered.top(10)
    assert [(s.user_id, s.rank) for s in page] == [(2, 1), (3, 1), (5, 1), (1, 4), (4, 5)]
    assert total == 5


def test_page_offset_keeps_tie_rank(registered):
    for user_id, points in [(1, 30), (2, 30), (3, 30), (4, 5)]:
        registered.award(Award.new(user_id, points, "quest"))
    page, _ = registered.top(2, offset=2)
    assert [(s.user_id, s.rank) for s in page] == [(3, 1), (4, 4)]


def test_standing_matches_page_rank(registered):
    for user_id, points in [(1, 10), (2, 30), (3, 30)]:
        registered.award(Award.new(user_id, points, "quest"))
    page, _ = registered.top(10)
    for standing in page:
        assert registered.standing(standing.user_id).rank == standing.rank


def test_standing_without_points(registered):
    standing = registered.standing(3)
    assert standing.rank is None
    assert standing.score == 0


def test_idempotent_replay_returns_first_result(registered):
    first = registered.award(Award.new(1, 5, "quest", "key-1"), fingerprint="f1")
    registered.award(Award.new(2, 50, "quest"))
    replay = registered.award(Award.new(1, 5, "quest", "key-1"), fingerprint="f1")
    assert replay.transaction_id == first.transaction_id
    assert (replay.score, replay.rank) == (first.score, first.rank)
    assert replay.replayed
    assert registered.outbox_length() == 2


def test_idempotency_key_with_other_body(registered):
    registered.award(Award.new(1, 5, "quest", "key-2"), fingerprint="f1")
    with pytest.raises(IdempotencyKeyReused):
        registered.award(Award.new(1, 6, "quest", "key-2"), fingerprint="f2")


def test_claim_moves_oldest_records(registered, award_queue):
    awards = [Award.new(1, points, "quest") for points in range(1, 8)]
    for award in awards:
        registered.award(award)
    claimed_batches = []

    def enqueue(pipeline, batch):
        claimed_batches.append(batch)
        award_queue.enqueue(batch, pipeline=pipeline)

    assert registered.claim_outbox(5, enqueue) == 5
    assert claimed_batches == [awards[:5]]
    assert registered.outbox_awards() == awards[5:]
    assert len(award_queue.award_jobs()) == 1


def test_claim_of_empty_outbox(registered, award_queue):
    assert registered.claim_outbox(5, lambda pipeline, batch: award_queue.enqueue(batch, pipeline)) == 0
    assert award_queue.award_jobs() == []


def test_failed_enqueue_keeps_outbox(registered):
    registered.award(Award.new(1, 3, "quest"))

    def enqueue(pipeline, batch):
        raise RuntimeError("enqueue failed")

    with pytest.raises(RuntimeError):
        registered.claim_outbox(5, enqueue)
    assert registered.outbox_length() == 1
