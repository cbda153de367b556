"""Record awards in the database: log rows and score totals in one transaction."""

import collections
import logging

from peewee import EXCLUDED

from leaderboard.models import LeaderboardScore, PointTransaction, database_proxy, utc_now

log = logging.getLogger(__name__)


def record_awards(awards):
    """Record a list of awards in one transaction; return the transaction ids inserted.

    An award whose transaction id (or idempotency key) is already in the log is skipped,
    so a job that runs twice records its awards once. Totals are added in SQL
    (score = score + points) from the rows actually inserted, never read and written
    back from Python, so concurrent workers lose no update.
    """
    if not awards:
        return set()
    recorded_at = utc_now()
    rows = [
        {
            "transaction_id": award.transaction_id,
            "user": award.user_id,
            "points": award.points,
            "source": award.source,
            "idempotency_key": award.idempotency_key,
            "created_at": award.created_at,
            "recorded_at": recorded_at,
        }
        for award in awards
    ]
    with database_proxy.atomic():
        inserted = list(
            PointTransaction.insert_many(rows)
            .on_conflict_ignore()
            .returning(PointTransaction.transaction_id, PointTransaction.user, PointTransaction.points)
            .tuples()
            .execute()
        )
        points_by_user = collections.Counter()
        for _, user_id, points in inserted:
            points_by_user[user_id] += points
        if points_by_user:
            totals = [
                {"user": user_id, "score": points, "updated_at": recorded_at}
                for user_id, points in sorted(points_by_user.items())
            ]
            (
                LeaderboardScore.insert_many(totals)
                .on_conflict(
                    conflict_target=[LeaderboardScore.user],
                    update={
                        LeaderboardScore.score: LeaderboardScore.score + EXCLUDED.score,
                        LeaderboardScore.updated_at: EXCLUDED.updated_at,
                    },
                )
                .execute()
            )
    if len(inserted) < len(awards):
        log.info("%d of %d awards were already recorded and were skipped", len(awards) - len(inserted), len(awards))
    return {str(transaction_id) for transaction_id, _, _ in inserted}
