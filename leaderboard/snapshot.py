"""Consistent reads of the database for rebuild and verify."""

import contextlib

from peewee import fn

from leaderboard.database import is_sqlite
from leaderboard.models import LeaderboardScore, PointTransaction, User, database_proxy, utc_now

IN_CLAUSE_CHUNK = 900


@contextlib.contextmanager
def snapshot(write_scores=False):
    """Open a transaction whose reads all see one snapshot of the database.

    With write_scores the transaction may rewrite leaderboard_scores, and holds the
    write lock on it until commit so that no worker adds to a total meanwhile.
    """
    database = database_proxy.obj
    with database.connection_context():
        if is_sqlite(database):
            # SQLite's IMMEDIATE takes the write lock at BEGIN; a deferred transaction
            # reads one snapshot (WAL mode) from its first SELECT on.
            with database.atomic("IMMEDIATE" if write_scores else "DEFERRED"):
                yield database
        else:
            with database.atomic():
                database.execute_sql("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
                if write_scores:
                    database.execute_sql("LOCK TABLE leaderboard_scores IN EXCLUSIVE MODE")
                yield database


def score_totals():
    query = LeaderboardScore.select(LeaderboardScore.user_id, LeaderboardScore.score).tuples()
    return {user_id: score for user_id, score in query}


def log_totals():
    query = (
        PointTransaction.select(PointTransaction.user_id, fn.SUM(PointTransaction.points))
        .group_by(PointTransaction.user_id)
        .tuples()
    )
    return {user_id: int(total) for user_id, total in query}


def rewrite_scores_from_log():
    """Replace leaderboard_scores with the per-user sums of the log; call inside snapshot(write_scores=True)."""
    LeaderboardScore.delete().execute()
    now = utc_now()
    rows = [{"user": user_id, "score": total, "updated_at": now} for user_id, total in log_totals().items()]
    for start in range(0, len(rows), IN_CLAUSE_CHUNK):
        LeaderboardScore.insert_many(rows[start : start + IN_CLAUSE_CHUNK]).execute()
    return len(rows)


def recorded_transaction_ids(transaction_ids):
    """Return the subset of transaction_ids that the log holds."""
    transaction_ids = list(transaction_ids)
    recorded = set()
    for start in range(0, len(transaction_ids), IN_CLAUSE_CHUNK):
        chunk = transaction_ids[start : start + IN_CLAUSE_CHUNK]
        query = PointTransaction.select(PointTransaction.transaction_id).where(
            PointTransaction.transaction_id.in_(chunk)
        )
        recorded.update(str(row.transaction_id) for row in query)
    return recorded


def usernames():
    return list(User.select(User.id, User.username).tuples())
