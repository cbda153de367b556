"""Rebuild and verify, with the database and Redis both real."""

import pytest

from leaderboard.awards import Award
from leaderboard.models import LeaderboardScore, User
from leaderboard.rebuild import rebuild
from leaderboard.recording import record_awards
from leaderboard.verify import verify
from tests.helpers import award, put_user


@pytest.fixture
def players(client):
    for user_id, name in [(1, "ann"), (2, "ben"), (3, "cyd")]:
        assert put_user(client, user_id, name).status_code == 201
    return client


def drain(repository, award_queue):
    """Record everything in the outbox now, as the worker would."""
    record_awards(repository.outbox_awards())
    repository.redis.delete(repository.outbox_key)


def test_rebuild_restores_flushed_board(players, repository, award_queue, db):
    award(players, 1, 10)
    award(players, 2, 30)
    drain(repository, award_queue)
    before = players.get("/api/leaderboard").get_json()
    repository.redis.flushdb()
    report = rebuild(repository, award_queue)
    assert report.members == 2
    assert players.get("/api/leaderboard").get_json() == before


def test_rebuild_restores_usernames(players, repository, award_queue, db):
    repository.redis.flushdb()
    rebuild(repository, award_queue)
    assert players.get("/api/leaderboard/user/3").get_json()["username"] == "cyd"


def test_rebuild_counts_queued_awards(players, repository, award_queue, db):
    award(players, 1, 10)
    drain(repository, award_queue)
    award(players, 1, 5)  # still in the outbox
    award(players, 2, 7)
    repository.claim_outbox(1, lambda pipeline, batch: award_queue.enqueue(batch, pipeline))
    rebuild(repository, award_queue)
    assert repository.board_totals() == {1: 15, 2: 7}


def test_rebuild_twice_changes_nothing(players, repository, award_queue, db):
    award(players, 1, 10)
    award(players, 3, 10)
    drain(repository, award_queue)
    rebuild(repository, award_queue)
    first = repository.redis.zrange(repository.board_key, 0, -1, withscores=True)
    rebuild(repository, award_queue)
    assert repository.redis.zrange(repository.board_key, 0, -1, withscores=True) == first


def test_rebuild_from_log_repairs_table(players, repository, award_queue, db):
    award(players, 1, 10)
    award(players, 2, 4)
    drain(repository, award_queue)
    LeaderboardScore.update(score=999).where(LeaderboardScore.user == 1).execute()
    rebuild(repository, award_queue, from_log=True)
    assert LeaderboardScore.get(LeaderboardScore.user == 1).score == 10
    assert repository.board_totals() == {1: 10, 2: 4}


def test_rebuild_applies_journaled_awards(players, repository, award_queue, db):
    rebuild_id = repository.begin_rebuild()
    repository.award(Award.new(2, 9, "during"))
    repository.write_rebuilt_board({1: 0})
    assert repository.finish_rebuild(rebuild_id, 0) == 1
    assert repository.board_totals() == {1: 0, 2: 9}


def test_verify_passes_with_queued_awards(players, repository, award_queue, db):
    award(players, 1, 10)
    drain(repository, award_queue)
    award(players, 1, 3)
    report = verify(repository, award_queue)
    assert report.ok
    assert report.pending_awards == 1


def test_verify_reports_redis_drift(players, repository, award_queue, db):
    award(players, 1, 10)
    drain(repository, award_queue)
    repository.redis.zincrby(repository.board_key, -5, b"\x01\x01")
    report = verify(repository, award_queue)
    assert [(d.user_id, d.redis_score, d.expected_redis_score) for d in report.drifts] == [(1, 15, 10)]


def test_verify_reports_table_drift(players, repository, award_queue, db):
    award(players, 2, 10)
    drain(repository, award_queue)
    LeaderboardScore.update(score=11).where(LeaderboardScore.user == 2).execute()
    report = verify(repository, award_queue)
    assert [(d.user_id, d.table_score, d.log_score) for d in report.drifts] == [(2, 11, 10)]


def test_cli_verify_exit_codes(players, repository, award_queue, runner, db):
    award(players, 1, 10)
    drain(repository, award_queue)
    assert runner.invoke(args=["leaderboard", "verify"]).exit_code == 0
    User.update(username="ann").where(User.id == 1).execute()
    repository.redis.zincrby(repository.board_key, -1, b"\x01\x01")
    result = runner.invoke(args=["leaderboard", "verify"])
    assert result.exit_code == 1
    assert "drift: user 1" in result.output


def test_cli_rebuild_reports_counts(players, repository, runner, db):
    award(players, 1, 10)
    result = runner.invoke(args=["leaderboard", "rebuild"])
    assert result.exit_code == 0
    assert "1 member(s), 3 username(s), 1 queued award(s)" in result.output


def test_cli_migrate_is_idempotent(runner):
    result = runner.invoke(args=["leaderboard", "migrate"])
    assert result.exit_code == 0
    assert "up to date" in result.output


def test_cli_requeue_unknown_job(runner):
    result = runner.invoke(args=["leaderboard", "failed", "requeue", "no-such-job"])
    assert result.exit_code == 1
    assert "is not in the failed job registry" in result.output


def test_cli_requeue_needs_ids(runner):
    result = runner.invoke(args=["leaderboard", "failed", "requeue"])
    assert result.exit_code == 2


def test_cli_status_counts_awards(players, repository, award_queue, runner):
    award(players, 1, 10)
    award(players, 2, 5)
    award(players, 3, 1)
    repository.claim_outbox(2, lambda pipeline, batch: award_queue.enqueue(batch, pipeline))
    result = runner.invoke(args=["leaderboard", "status"])
    assert result.exit_code == 0
    assert "outbox: 1 award(s)" in result.output
    assert "queued jobs: 1" in result.output
    assert "awards in jobs not yet finished: 2 in 1 job(s)" in result.output
