"""Recording awards in the database, and the batch job, on SQLite and PostgreSQL."""

import pytest

from leaderboard.awards import Award
from leaderboard.database import is_sqlite
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
    assert record_awards(awards) == {award.transaction_id for award in awards}
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
    assert record_awards(awards) == set()
    assert PointTransaction.select().count() == 2
    assert score_of(1) == 10


def test_partly_recorded_batch_adds_rest(users):
    first = Award.new(1, 10, "a")
    record_awards([first])
    second = Award.new(1, 4, "b")
    assert record_awards([first, second]) == {second.transaction_id}
    assert score_of(1) == 14


def test_idempotency_key_unique_in_log(users):
    record_awards([Award.new(1, 10, "a", idempotency_key="same")])
    assert record_awards([Award.new(1, 10, "a", idempotency_key="same")]) == set()
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


def test_expired_key_reuse_is_reversed(users, repository):
    """A key reused after Redis forgot it: Redis counts the award, the log refuses it, the job takes it back."""
    repository.set_username(1, "user1")
    first = Award.new(1, 10, "a", idempotency_key="order-7")
    repository.award(first, fingerprint="f")
    record_award_batch([first.to_record()])
    repository.redis.delete(repository.idempotency_key("order-7"))
    again = Award.new(1, 10, "a", idempotency_key="order-7")
    assert repository.award(again, fingerprint="f").score == 20
    assert record_award_batch([again.to_record()]) == 0
    assert repository.standing(1).score == 10
    record_award_batch([again.to_record()])
    assert repository.standing(1).score == 10
    assert score_of(1) == 10


def test_job_isolates_unstorable_source(users, award_queue):
    """An award queued before validation rejected NUL: PostgreSQL cannot store it, SQLite can."""
    good = Award.new(1, 10, "a")
    nul = Award.new(2, 5, "shop\x00")
    recorded = record_award_batch([good.to_record(), nul.to_record()])
    assert score_of(1) == 10
    if is_sqlite(users):
        assert recorded == 2
    else:
        assert recorded == 1
        assert [award_queue.job_awards(job) for job in award_queue.award_jobs()] == [[nul]]
