"""Compare the Redis board, leaderboard_scores and the award log, user by user."""

import collections
import dataclasses

from leaderboard import snapshot
from leaderboard.rebuild import pending_awards


@dataclasses.dataclass(frozen=True)
class Drift:
    user_id: int
    redis_score: int
    expected_redis_score: int
    table_score: int
    log_score: int


@dataclasses.dataclass
class VerifyReport:
    users_checked: int
    pending_awards: int
    drifts: list

    @property
    def ok(self):
        return not self.drifts


def verify(repository, award_queue):
    """Check that Redis = leaderboard_scores + awards not yet recorded, and leaderboard_scores = the log.

    It journals new awards the way a rebuild does and reads the board last, together
    with the journal, so awards that arrive while it runs are counted on both sides.
    """
    journal_id = repository.begin_rebuild()
    try:
        pending = pending_awards(repository, award_queue)
        with snapshot.snapshot():
            table = snapshot.score_totals()
            log_sums = snapshot.log_totals()
            board, journal = repository.finish_verify(journal_id)
            pending.update((award.transaction_id, award) for award in journal)
            recorded = snapshot.recorded_transaction_ids(pending)
    except BaseException:
        repository.abort_rebuild(journal_id)
        raise

    pending_points = collections.Counter()
    for transaction_id, award in pending.items():
        if transaction_id not in recorded:
            pending_points[award.user_id] += award.points

    drifts = []
    user_ids = set(board) | set(table) | set(log_sums) | set(pending_points)
    for user_id in sorted(user_ids):
        expected = table.get(user_id, 0) + pending_points[user_id]
        redis_score = board.get(user_id, 0)
        table_score = table.get(user_id, 0)
        log_score = log_sums.get(user_id, 0)
        if redis_score != expected or table_score != log_score:
            drifts.append(Drift(user_id, redis_score, expected, table_score, log_score))
    return VerifyReport(len(user_ids), len(pending) - len(recorded), drifts)
