"""RQ job functions. Each lets its exceptions propagate so RQ's retries and failed registry work."""

import contextlib
import logging

import peewee
from flask import current_app

from leaderboard.awards import Award
from leaderboard.models import database_proxy
from leaderboard.recording import record_awards
from leaderboard.snapshot import recorded_transaction_ids

log = logging.getLogger(__name__)

# Errors that belong to the data of one award rather than to the database being down.
# ValueError covers a value the driver cannot send at all, such as a NUL character
# for psycopg2; validation rejects those, but an award queued before that check
# must not block its batch.
DATA_ERRORS = (peewee.IntegrityError, peewee.DataError, ValueError)


def record_award_batch(records):
    """Record a batch of award records in the database in one transaction; return how many were new.

    If the batch fails on the data of some award, the awards are recorded one by one.
    Each one that still fails gets a job of its own, which retries and then lands in the
    failed registry alone, while the rest of the batch is recorded now.
    """
    awards = [Award.from_record(record) for record in records]
    moved_out = set()
    with _database_connection():
        try:
            inserted = record_awards(awards)
        except DATA_ERRORS as error:
            if len(awards) == 1:
                raise
            log.warning("batch of %d awards failed (%s); recording them one by one", len(awards), error)
            inserted, moved_out = _record_one_by_one(awards)
        _reverse_rejected([award for award in awards if award.transaction_id not in moved_out], inserted)
    return len(inserted)


@contextlib.contextmanager
def _database_connection():
    """Reuse the worker's database connection across jobs; drop it after a connection error.

    A new PostgreSQL connection per job cost about 5% of the worker's time. After an
    error the connection may be broken (a restarted server), so the next job reconnects.
    """
    database = database_proxy.obj
    database.connect(reuse_if_open=True)
    try:
        yield database
    except (peewee.OperationalError, peewee.InterfaceError):
        with contextlib.suppress(peewee.PeeweeException, OSError):
            database.close()
        raise


def _record_one_by_one(awards):
    """Record each award alone; return (ids inserted, ids moved to jobs of their own)."""
    inserted = set()
    failed = []
    for award in awards:
        try:
            inserted |= record_awards([award])
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
    return inserted, {award.transaction_id for award in failed}


def _reverse_rejected(awards, inserted):
    """Take back from Redis each award whose Idempotency-Key the log already holds.

    That happens when a key is reused after Redis forgot it (IDEMPOTENCY_TTL_SECONDS):
    Redis counted the award, but the log's unique key refused it.
    """
    skipped = [award for award in awards if award.transaction_id not in inserted]
    if not skipped:
        return
    recorded = recorded_transaction_ids(award.transaction_id for award in skipped)
    repository = current_app.extensions["repository"]
    for award in skipped:
        if award.transaction_id in recorded or award.idempotency_key is None:
            continue
        if repository.reverse_award(award):
            log.warning(
                "award %s for user %s reversed: Idempotency-Key %r is already recorded",
                award.transaction_id,
                award.user_id,
                award.idempotency_key,
            )
