"""RQ job functions. Each lets its exceptions propagate so RQ's retries and failed registry work."""

import logging

import peewee
from flask import current_app

from leaderboard.awards import Award
from leaderboard.models import database_proxy
from leaderboard.recording import record_awards

log = logging.getLogger(__name__)

# Errors that belong to the data of one award rather than to the database being down.
DATA_ERRORS = (peewee.IntegrityError, peewee.DataError)


def record_award_batch(records):
    """Record a batch of award records in the database in one transaction.

    If the batch fails on the data of some award, the awards are recorded one by one and
    each one that still fails gets a job of its own, which retries and then lands in the
    failed registry alone; the rest of the batch is recorded now.
    """
    awards = [Award.from_record(record) for record in records]
    with database_proxy.obj.connection_context():
        try:
            return record_awards(awards)
        except DATA_ERRORS as error:
            if len(awards) == 1:
                raise
            log.warning("batch of %d awards failed (%s); recording them one by one", len(awards), error)
            return _record_one_by_one(awards)


def _record_one_by_one(awards):
    recorded = 0
    failed = []
    for award in awards:
        try:
            recorded += record_awards([award])
        except DATA_ERRORS as error:
            log.warning(
                "award %s for user %s failed on its data: %s; moving it to a job of its own",
                award.transaction_id,
                award.user_id,
                error,
            )
            failed.append(award)
    award_queue = current_app.extensions["award_queue"]
    for award in failed:
        award_queue.enqueue([award])
    return recorded
