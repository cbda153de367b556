"""Rebuild the Redis board and usernames from the database without a partial read."""

import collections
import dataclasses
import logging
import time

from leaderboard import snapshot

log = logging.getLogger(__name__)


@dataclasses.dataclass
class RebuildReport:
    members: int
    users: int
    pending_awards: int
    journaled_awards: int
    scores_rewritten: int | None
    seconds: float


def pending_awards(repository, award_queue):
    """Return {transaction id: Award} for every award in Redis that may not be in the database.

    The outbox is read before the jobs. A record that moves from the outbox into a job
    in between is then read twice (and kept once) instead of being missed.
    """
    pending = {award.transaction_id: award for award in repository.outbox_awards()}
    for job in award_queue.award_jobs():
        for award in award_queue.job_awards(job):
            pending[award.transaction_id] = award
    return pending


def rebuild(repository, award_queue, from_log=False):
    """Rebuild the board from the database plus the awards not yet recorded there.

    Awards that arrive while it runs are journaled by the award script and applied in
    the same atomic step that swaps the rebuilt board in, so none is lost or doubled.
    With from_log, leaderboard_scores is first rewritten from point_transactions.
    """
    started = time.monotonic()
    rebuild_id = repository.begin_rebuild()
    log.info("rebuild %s started (from_log=%s)", rebuild_id, from_log)
    try:
        pending = pending_awards(repository, award_queue)
        scores_rewritten = None
        with snapshot.snapshot(write_scores=from_log):
            if from_log:
                scores_rewritten = snapshot.rewrite_scores_from_log()
            totals = collections.Counter(snapshot.score_totals())
            # Read after the snapshot began: entries past this point are newer than it.
            journal = repository.journal_awards()
            candidates = dict(pending)
            candidates.update((award.transaction_id, award) for award in journal)
            recorded = snapshot.recorded_transaction_ids(candidates)
            usernames = snapshot.usernames()
        for transaction_id, award in candidates.items():
            if transaction_id not in recorded:
                totals[award.user_id] += award.points
        repository.write_rebuilt_board(totals)
        repository.set_usernames(usernames)
        applied_late = repository.finish_rebuild(rebuild_id, len(journal))
    except BaseException:
        repository.abort_rebuild(rebuild_id)
        raise
    report = RebuildReport(
        members=len(totals),
        users=len(usernames),
        pending_awards=len(candidates) - len(recorded),
        journaled_awards=len(journal) + applied_late,
        scores_rewritten=scores_rewritten,
        seconds=time.monotonic() - started,
    )
    log.info("rebuild %s finished: %s", rebuild_id, report)
    return report
