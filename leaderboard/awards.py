"""The award record that travels from the API through Redis to the database."""

import dataclasses
import datetime
import json
import time
import uuid

# Every total, user id and points value stays within the integers that a double (Redis
# scores, JavaScript numbers) represents exactly.
MAX_SAFE_INTEGER = 2**53 - 1


@dataclasses.dataclass(frozen=True)
class Award:
    transaction_id: str
    user_id: int
    points: int
    source: str
    created_ms: int
    idempotency_key: str | None = None

    @classmethod
    def new(cls, user_id, points, source, idempotency_key=None):
        return cls(
            transaction_id=str(uuid.uuid4()),
            user_id=user_id,
            points=points,
            source=source,
            created_ms=int(time.time() * 1000),
            idempotency_key=idempotency_key,
        )

    def to_record(self):
        """Encode as the compact JSON array stored in the outbox and in job arguments."""
        fields = [
            self.transaction_id,
            self.user_id,
            self.points,
            self.source,
            self.created_ms,
            self.idempotency_key,
        ]
        return json.dumps(fields, separators=(",", ":"))

    @classmethod
    def from_record(cls, record):
        if isinstance(record, bytes):
            record = record.decode()
        transaction_id, user_id, points, source, created_ms, idempotency_key = json.loads(record)
        return cls(transaction_id, user_id, points, source, created_ms, idempotency_key)

    @property
    def created_at(self):
        """Acceptance time as a naive UTC datetime, the form the models store."""
        moment = datetime.datetime.fromtimestamp(self.created_ms / 1000, datetime.timezone.utc)
        return moment.replace(tzinfo=None)
