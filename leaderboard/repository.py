"""LeaderboardRepository: every Redis key and command of the service."""

import dataclasses
import logging
import typing
import uuid
from pathlib import Path

import redis

from leaderboard.awards import MAX_SAFE_INTEGER, Award
from leaderboard.errors import (
    IdempotencyKeyReused,
    RebuildInProgress,
    ScoreOutOfRange,
    UserNotFound,
)

log = logging.getLogger(__name__)

LUA_DIR = Path(__file__).resolve().parent / "lua"

# Users per username hash. A hash of up to 128 fields (Redis's default
# hash-max-listpack-entries) stays in the compact listpack encoding. With 13-character
# usernames, 127 per hash measured 16.7 bytes per username and 100 per hash 18.4
# (Redis 7.0, jemalloc size classes), so the largest size that fits is used.
USERS_PER_BUCKET = 127

# How long a rebuild may hold its flag before it counts as crashed.
REBUILD_TTL_SECONDS = 3600


def encode_member(user_id):
    """Encode a user id as a board member whose byte order is the numeric order.

    A length byte followed by the big-endian bytes sorts 2 before 10, so Redis orders
    members with equal scores by ascending user id, and it is shorter than decimal text.
    """
    digits = user_id.to_bytes((user_id.bit_length() + 7) // 8, "big")
    return bytes([len(digits)]) + digits


def decode_member(member):
    return int.from_bytes(member[1 : 1 + member[0]], "big")


@dataclasses.dataclass(frozen=True)
class AwardResult:
    transaction_id: str
    score: int
    rank: int
    replayed: bool = False


class Standing(typing.NamedTuple):
    # A named tuple, not a dataclass: a top-100 page builds a hundred of them per request.
    user_id: int
    username: str
    score: int
    rank: int | None


class LeaderboardRepository:
    def __init__(self, connection, prefix="lb"):
        self.redis = connection
        self.prefix = prefix
        self._award_script = self._load_script("award.lua")
        self._top_script = self._load_script("top.lua")
        self._rank_script = self._load_script("rank.lua")
        self._finish_rebuild_script = self._load_script("finish_rebuild.lua")
        self._reverse_award_script = self._load_script("reverse_award.lua")

    def _load_script(self, name):
        return self.redis.register_script((LUA_DIR / name).read_text())

    def key(self, *parts):
        return ":".join([self.prefix, *parts])

    @property
    def board_key(self):
        return self.key("board")

    @property
    def outbox_key(self):
        return self.key("outbox")

    def names_key(self, user_id):
        return self.key("names", str(user_id // USERS_PER_BUCKET))

    @staticmethod
    def names_field(user_id):
        return str(user_id % USERS_PER_BUCKET)

    def idempotency_key(self, key):
        return self.key("idempotency", key)

    # Users

    def set_username(self, user_id, username):
        self.redis.hset(self.names_key(user_id), self.names_field(user_id), username)

    def set_usernames(self, usernames):
        """Store many user id to username pairs in one pipeline."""
        with self.redis.pipeline(transaction=False) as pipe:
            for user_id, username in usernames:
                pipe.hset(self.names_key(user_id), self.names_field(user_id), username)
            pipe.execute()

    # Awards

    def award(self, award, fingerprint="", idempotency_ttl_seconds=86400):
        """Apply an award to the board and queue its record for the database, atomically.

        Raises UserNotFound, ScoreOutOfRange or IdempotencyKeyReused, and then writes nothing.
        """
        keys = [
            self.board_key,
            self.names_key(award.user_id),
            self.outbox_key,
            self.key("rebuild"),
            self.key("rebuild", "journal"),
        ]
        if award.idempotency_key is not None:
            keys.append(self.idempotency_key(award.idempotency_key))
        reply = self._award_script(
            keys=keys,
            args=[
                encode_member(award.user_id),
                self.names_field(award.user_id),
                award.points,
                MAX_SAFE_INTEGER,
                award.to_record(),
                idempotency_ttl_seconds,
                fingerprint,
                award.transaction_id,
            ],
        )
        status = reply[0].decode()
        if status == "ok":
            return AwardResult(award.transaction_id, int(reply[1]), int(reply[2]))
        if status == "replay":
            return AwardResult(reply[2].decode(), int(reply[3]), int(reply[4]), replayed=True)
        if status == "not_found":
            raise UserNotFound(award.user_id)
        if status == "out_of_range":
            raise ScoreOutOfRange(award.user_id, int(reply[1]), award.points)
        if status == "conflict":
            raise IdempotencyKeyReused(award.idempotency_key)
        raise RuntimeError(f"award.lua returned an unknown status {status!r}")

    def reverse_award(self, award, marker_ttl_seconds=30 * 24 * 3600):
        """Take an award's points back from the board once; return True if this call did it."""
        reversed_now = self._reverse_award_script(
            keys=[self.board_key, self.key("reversed", award.transaction_id)],
            args=[encode_member(award.user_id), award.points, marker_ttl_seconds],
        )
        return bool(reversed_now)

    # Reads

    def top(self, limit, offset=0):
        """Return (page of Standing, members on the board)."""
        reply = self._top_script(
            keys=[self.board_key],
            args=[offset, limit, self.key("names", ""), USERS_PER_BUCKET],
        )
        total, rank = int(reply[0]), int(reply[1])
        standings = []
        previous_score = None
        for index, position in enumerate(range(2, len(reply), 3)):
            # Redis may print a stored score in exponent form; float() parses it exactly below 2^53.
            score = -int(float(reply[position + 1]))
            if previous_score is not None and score != previous_score:
                rank = offset + index + 1
            previous_score = score
            standings.append(Standing(reply[position], reply[position + 2].decode(), score, rank))
        return standings, total

    def standing(self, user_id):
        """Return the user's Standing, with rank None when the user has no points yet."""
        reply = self._rank_script(
            keys=[self.board_key, self.names_key(user_id)],
            args=[encode_member(user_id), self.names_field(user_id)],
        )
        if not reply:
            raise UserNotFound(user_id)
        username = reply[0].decode()
        if len(reply) == 1:
            return Standing(user_id, username, 0, None)
        return Standing(user_id, username, int(reply[1]), int(reply[2]))

    def board_totals(self):
        """Return {user id: total} for the whole board."""
        totals = {}
        for member, stored_score in self.redis.zscan_iter(self.board_key):
            totals[decode_member(member)] = -int(stored_score)
        return totals

    # Outbox

    def outbox_awards(self):
        return [Award.from_record(record) for record in self.redis.lrange(self.outbox_key, 0, -1)]

    def outbox_length(self):
        return self.redis.llen(self.outbox_key)

    def claim_outbox(self, max_awards, enqueue):
        """Move up to max_awards records from the outbox into a job, atomically.

        ``enqueue(pipeline, awards)`` must queue the job on the given MULTI pipeline; the
        records leave the outbox only if that job is created. Claimers serialize on an
        epoch counter that each one increments, while the API keeps appending to the
        outbox without conflicting with them. Returns the number of awards claimed.
        """
        epoch_key = self.key("outbox", "epoch")
        with self.redis.pipeline() as pipe:
            while True:
                try:
                    pipe.watch(epoch_key)
                    records = pipe.lrange(self.outbox_key, 0, max_awards - 1)
                    if not records:
                        pipe.reset()
                        return 0
                    pipe.multi()
                    pipe.incr(epoch_key)
                    pipe.ltrim(self.outbox_key, len(records), -1)
                    enqueue(pipe, [Award.from_record(record) for record in records])
                    pipe.execute()
                    return len(records)
                except redis.WatchError:
                    log.debug("outbox claim raced with another worker; trying again")

    # Rebuild

    def begin_rebuild(self):
        """Start journaling new awards and return the journal id.

        Rebuild and verify both use the journal, so only one of them runs at a time.
        """
        rebuild_id = uuid.uuid4().hex
        if not self.redis.set(self.key("rebuild"), rebuild_id, nx=True, ex=REBUILD_TTL_SECONDS):
            raise RebuildInProgress(self.redis.get(self.key("rebuild")).decode())
        self.redis.delete(self.key("rebuild", "journal"), self.key("board", "rebuild"))
        return rebuild_id

    def abort_rebuild(self, rebuild_id):
        with self.redis.pipeline() as pipe:
            pipe.delete(self.key("rebuild", "journal"), self.key("board", "rebuild"))
            pipe.execute()
        if self.redis.get(self.key("rebuild")) == rebuild_id.encode():
            self.redis.delete(self.key("rebuild"))

    def finish_verify(self, rebuild_id):
        """Read the board and the whole journal in one atomic step, then stop journaling.

        Returns ({user id: total}, [Award]).
        """
        with self.redis.pipeline() as pipe:
            pipe.get(self.key("rebuild"))
            pipe.zrange(self.board_key, 0, -1, withscores=True)
            pipe.lrange(self.key("rebuild", "journal"), 0, -1)
            pipe.delete(self.key("rebuild", "journal"))
            owner, board, records, _ = pipe.execute()
        if owner == rebuild_id.encode():
            self.redis.delete(self.key("rebuild"))
        else:
            raise RebuildInProgress((owner or b"expired").decode())
        totals = {decode_member(member): -int(stored_score) for member, stored_score in board}
        return totals, [Award.from_record(record) for record in records]

    def journal_awards(self):
        records = self.redis.lrange(self.key("rebuild", "journal"), 0, -1)
        return [Award.from_record(record) for record in records]

    def write_rebuilt_board(self, totals, chunk_size=10_000):
        """Write {user id: total} into the board being rebuilt, in chunks."""
        items = list(totals.items())
        with self.redis.pipeline(transaction=False) as pipe:
            for start in range(0, len(items), chunk_size):
                chunk = items[start : start + chunk_size]
                mapping = {encode_member(user_id): -total for user_id, total in chunk}
                pipe.zadd(self.key("board", "rebuild"), mapping)
            pipe.execute()

    def finish_rebuild(self, rebuild_id, journal_start):
        """Apply the journal from journal_start and swap the rebuilt board in atomically."""
        return self._finish_rebuild_script(
            keys=[
                self.key("board", "rebuild"),
                self.board_key,
                self.key("rebuild", "journal"),
                self.key("rebuild"),
            ],
            args=[rebuild_id, journal_start],
        )
