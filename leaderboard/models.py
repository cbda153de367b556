"""Peewee models of the durable record: users, the award log and the score totals."""

import datetime

from peewee import (
    BigIntegerField,
    CharField,
    DatabaseProxy,
    DateTimeField,
    ForeignKeyField,
    Model,
    UUIDField,
)

# Bound to a real database by create_app(), so that nothing connects at import time.
database_proxy = DatabaseProxy()


def utc_now():
    return datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)


class BaseModel(Model):
    class Meta:
        database = database_proxy
        legacy_table_names = False


class User(BaseModel):
    # The caller's own integer id, not one the database generates.
    id = BigIntegerField(primary_key=True)
    username = CharField(max_length=64, unique=True)
    created_at = DateTimeField(default=utc_now)

    class Meta:
        table_name = "users"


class PointTransaction(BaseModel):
    """One accepted award. Rows are only ever inserted."""

    transaction_id = UUIDField(unique=True)
    user = ForeignKeyField(User, column_name="user_id", backref="transactions")
    points = BigIntegerField()
    source = CharField(max_length=64)
    idempotency_key = CharField(max_length=255, null=True, unique=True)
    # When the API accepted the award, which can be well before the worker records it.
    created_at = DateTimeField()
    recorded_at = DateTimeField(default=utc_now)

    class Meta:
        table_name = "point_transactions"


class LeaderboardScore(BaseModel):
    user = ForeignKeyField(User, column_name="user_id", primary_key=True)
    score = BigIntegerField(default=0)
    updated_at = DateTimeField(default=utc_now)

    class Meta:
        table_name = "leaderboard_scores"


MODELS = [User, PointTransaction, LeaderboardScore]
