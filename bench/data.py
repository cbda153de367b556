"""Bulk loads straight into the database with SQL, bypassing the API for speed."""

from leaderboard.database import connect_database, is_sqlite


def open_database(database_url):
    database = connect_database(database_url)
    database.connect()
    return database


def seed_users(database, count):
    """Insert users 1..count named player<id>, each with a total of 0 in leaderboard_scores.

    A rebuild then puts every user on the board, so the board has count members before
    the first award, and the sum of all totals stays equal to the number of awards.
    """
    if is_sqlite(database):
        sequence = "WITH RECURSIVE seq(g) AS (SELECT 1 UNION ALL SELECT g + 1 FROM seq WHERE g < ?) "
        with database.atomic():
            database.execute_sql(
                sequence + "INSERT INTO users (id, username, created_at) "
                "SELECT g, 'player' || g, datetime('now') FROM seq",
                (count,),
            )
            database.execute_sql(
                sequence + "INSERT INTO leaderboard_scores (user_id, score, updated_at) "
                "SELECT g, 0, datetime('now') FROM seq",
                (count,),
            )
        return
    with database.atomic():
        database.execute_sql(
            "INSERT INTO users (id, username, created_at) "
            "SELECT g, 'player' || g, now() FROM generate_series(1, %s) AS g",
            (count,),
        )
        database.execute_sql(
            "INSERT INTO leaderboard_scores (user_id, score, updated_at) "
            "SELECT g, 0, now() FROM generate_series(1, %s) AS g",
            (count,),
        )


def load_award_log(database, rows, users):
    """Fill a PostgreSQL database with users 1..users and rows log rows spread evenly over them.

    leaderboard_scores gets the per-user sums of the log, as the worker would have left it.
    """
    if is_sqlite(database):
        raise ValueError("load_award_log needs PostgreSQL (generate_series); got a SQLite database")
    with database.atomic():
        database.execute_sql(
            "INSERT INTO users (id, username, created_at) "
            "SELECT g, 'player' || g, now() FROM generate_series(1, %s) AS g",
            (users,),
        )
        database.execute_sql(
            "INSERT INTO point_transactions "
            "(transaction_id, user_id, points, source, idempotency_key, created_at, recorded_at) "
            "SELECT gen_random_uuid(), 1 + g %% %s, 1 + g %% 7, 'bench', NULL, now(), now() "
            "FROM generate_series(1, %s) AS g",
            (users, rows),
        )
        database.execute_sql(
            "INSERT INTO leaderboard_scores (user_id, score, updated_at) "
            "SELECT user_id, sum(points), now() FROM point_transactions GROUP BY user_id"
        )
    database.execute_sql("ANALYZE")


def count_recorded_awards(database):
    return database.execute_sql("SELECT count(*) FROM point_transactions").fetchone()[0]
