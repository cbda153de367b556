"""Create users, point_transactions and leaderboard_scores."""

from peewee import (
    BigIntegerField,
    CharField,
    DateTimeField,
    ForeignKeyField,
    Model,
    UUIDField,
)


def up(migrator, db):
    # Frozen copies of the models as this migration creates them; later model changes
    # belong in later migrations.
    class User(Model):
        id = BigIntegerField(primary_key=True)
        username = CharField(max_length=64, unique=True)
        created_at = DateTimeField()

        class Meta:
            database = db
            table_name = "users"

    class PointTransaction(Model):
        transaction_id = UUIDField(unique=True)
        user = ForeignKeyField(User, column_name="user_id")
        points = BigIntegerField()
        source = CharField(max_length=64)
        idempotency_key = CharField(max_length=255, null=True, unique=True)
        created_at = DateTimeField()
        recorded_at = DateTimeField()

        class Meta:
            database = db
            table_name = "point_transactions"

    class LeaderboardScore(Model):
        user = ForeignKeyField(User, column_name="user_id", primary_key=True)
        score = BigIntegerField()
        updated_at = DateTimeField()

        class Meta:
            database = db
            table_name = "leaderboard_scores"

    db.create_tables([User, PointTransaction, LeaderboardScore])


def down(migrator, db):
    db.execute_sql("DROP TABLE leaderboard_scores")
    db.execute_sql("DROP TABLE point_transactions")
    db.execute_sql("DROP TABLE users")
