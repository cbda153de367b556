"""Accept an award: Idempotency-Key handling and the atomic Redis step."""

import hashlib
import json
import logging

from leaderboard.awards import Award
from leaderboard.errors import ValidationFailed

log = logging.getLogger(__name__)

MAX_IDEMPOTENCY_KEY_LENGTH = 255


def read_idempotency_key(headers):
    """Return the Idempotency-Key header, or None when the request has none."""
    key = headers.get("Idempotency-Key")
    if key is None:
        return None
    if not 1 <= len(key) <= MAX_IDEMPOTENCY_KEY_LENGTH or not key.isprintable() or not key.isascii():
        raise ValidationFailed(
            {
                "Idempotency-Key": [
                    f"Must be 1 to {MAX_IDEMPOTENCY_KEY_LENGTH} printable ASCII characters, for example a UUID."
                ]
            }
        )
    return key


def fingerprint(body):
    """Hash the validated body, which distinguishes a reused key from a repeated request."""
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def award(repository, body, idempotency_key=None, idempotency_ttl_seconds=86400):
    """Apply a validated award and queue it for the database. Returns an AwardResult."""
    award = Award.new(body["user_id"], body["points"], body["source"], idempotency_key)
    result = repository.award(
        award,
        fingerprint=fingerprint(body) if idempotency_key is not None else "",
        idempotency_ttl_seconds=idempotency_ttl_seconds,
    )
    if result.replayed:
        log.info("award replayed for Idempotency-Key %r: transaction %s", idempotency_key, result.transaction_id)
    return result
