"""The leaderboard service: a Flask app factory."""

import logging
import sys

import redis
from flask import Flask
from redis.retry import Retry
from redis.backoff import NoBackoff

import config
from leaderboard import cli, dashboard, database, errors
from leaderboard.api import board, users
from leaderboard.jobqueue import AwardQueue
from leaderboard.jsonprovider import OrjsonProvider
from leaderboard.repository import LeaderboardRepository


def configure_logging(level):
    root = logging.getLogger()
    if not root.handlers:
        handler = logging.StreamHandler(sys.stdout)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        root.addHandler(handler)
    root.setLevel(level)


def create_app(overrides=None):
    app = Flask(__name__, instance_relative_config=False)
    app.json = OrjsonProvider(app)

    # Settings: the environment, then the caller's overrides (tests).
    app.config.update(config.settings_from_env())
    app.config.update(overrides or {})
    configure_logging(app.config["LOG_LEVEL"])

    # Clients. Short timeouts and no client-side retries, so a dead Redis gives 503 fast.
    timeout = app.config["REDIS_TIMEOUT_SECONDS"]
    redis_client = redis.Redis.from_url(
        app.config["REDIS_URL"],
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
        retry=Retry(NoBackoff(), 0),
    )
    app.extensions["redis"] = redis_client
    app.extensions["repository"] = LeaderboardRepository(redis_client, app.config["REDIS_KEY_PREFIX"])
    app.extensions["award_queue"] = AwardQueue.from_config(redis_client, app.config)
    database.init_app(app)

    # Blueprints, JSON errors, the CLI and the optional dashboard.
    app.register_blueprint(users.blueprint)
    app.register_blueprint(board.blueprint)
    errors.init_app(app)
    cli.init_app(app)
    dashboard.init_app(app)
    return app
