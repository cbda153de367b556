"""Recording awards in the database, and the batch job, on SQLite and PostgreSQL."""

import pytest

from leaderboard.awards import Award
from leaderboard.models import LeaderboardScore, PointTransaction, User
from leaderboard.recording import record_awards
from workers.jobs import record_award_batch


@pytest.fixture
def users(db):
    for user_id in (1, 2, 3):
        User.create(id=user_id, username=f"user{user_id}")
    return db


def score_of(user_id):
    row = LeaderboardScore.get_or_none(LeaderboardScore.user == user_id)
    return None if row is None else row.score


def test_batch_writes_log_and_totals(users):
    awards = [Award.new(1, 10, "a"), Award.new(2, 5, "b"), Award.new(1, -3, "c")]
    assert record_awards(awards) == 3
    assert PointTransaction.select().count() == 3
    assert score_of(1) == 7
    assert score_of(2) == 5


def test_log_row_keeps_award_fields(users):
    award = Award.new(3, 42, "purchase", idempotency_key="abc")
    record_awards([award])
    row = PointTransaction.get()
    assert str(row.transaction_id) == award.transaction_id
    assert (row.user_id, row.points, row.source, row.idempotency_key) == (3, 42, "purchase", "abc")
    assert row.created_at == award.created_at


def test_repeated_batch_records_once(users):
    awards = [Award.new(1, 10, "a"), Award.new(2, 5, "b")]
    record_awards(awards)
    assert record_awards(awards) == 0
    assert PointTransaction.select().count() == 2
    assert score_of(1) == 10


def test_partly_recorded_batch_adds_rest(users):
    first = Award.new(1, 10, "a")
    record_awards([first])
    assert record_awards([first, Award.new(1, 4, "b")]) == 1
    assert score_of(1) == 14


def test_idempotency_key_unique_in_log(users):
    record_awards([Award.new(1, 10, "a", idempotency_key="same")])
    assert record_awards([Award.new(1, 10, "a", idempotency_key="same")]) == 0
    assert score_of(1) == 10


def test_job_isolates_award_of_unknown_user(users, award_queue):
    good = [Award.new(1, 10, "a"), Award.new(2, 20, "b")]
    orphan = Award.new(77, 5, "c")  # user 77 has no users row: a foreign key violation
    recorded = record_award_batch([good[0].to_record(), orphan.to_record(), good[1].to_record()])
    assert recorded == 2
    assert score_of(1) == 10
    assert score_of(2) == 20
    jobs = award_queue.award_jobs()
    assert [award_queue.job_awards(job) for job in jobs] == [[orphan]]


def test_single_bad_award_raises(users):
    with pytest.raises(Exception) as raised:
        record_award_batch([Award.new(77, 5, "c").to_record()])
    assert "foreign key" in str(raised.value).lower()
