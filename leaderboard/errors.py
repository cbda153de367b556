"""The service's exceptions and the handlers that turn every error into one JSON shape.

Every error response is ``{"error": {"code", "message", "fields"?}}``; ``fields`` appears
only on validation errors and maps each field name to its messages.
"""

import logging

import peewee
import redis
from flask import jsonify
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

log = logging.getLogger(__name__)


class LeaderboardError(Exception):
    """Base of the service's errors; each subclass carries its HTTP status and code."""

    status = 400
    code = "bad_request"

    def __init__(self, message, fields=None):
        super().__init__(message)
        self.message = message
        self.fields = fields


class InvalidRequest(LeaderboardError):
    status = 400
    code = "invalid_request"


class UnsupportedMediaType(LeaderboardError):
    status = 415
    code = "unsupported_media_type"


class ValidationFailed(LeaderboardError):
    status = 422
    code = "validation_failed"

    def __init__(self, fields):
        names = ", ".join(sorted(fields))
        super().__init__(f"Invalid value for: {names}. See 'fields' for what each accepts.", fields)


class UserNotFound(LeaderboardError):
    status = 404
    code = "user_not_found"

    def __init__(self, user_id):
        super().__init__(
            f"User {user_id} is not registered; register it first with PUT /api/users/{user_id}."
        )
        self.user_id = user_id


class UsernameTaken(LeaderboardError):
    status = 409
    code = "username_taken"

    def __init__(self, username, owner_id):
        super().__init__(
            f"Username {username!r} is already taken by user {owner_id}; choose another username."
        )
        self.username = username
        self.owner_id = owner_id


class ScoreOutOfRange(LeaderboardError):
    status = 422
    code = "score_out_of_range"

    def __init__(self, user_id, current_score, points):
        super().__init__(
            f"Awarding {points} points to user {user_id} would move the score {current_score} "
            f"outside ±9007199254740991, the range in which scores stay exact; send fewer points.",
            {"points": ["The resulting score would leave ±9007199254740991."]},
        )
        self.user_id = user_id


class IdempotencyKeyReused(LeaderboardError):
    status = 409
    code = "idempotency_key_reused"

    def __init__(self, key):
        super().__init__(
            f"Idempotency-Key {key!r} was already used with a different request body; "
            "send a new key for a new award."
        )
        self.key = key


class RebuildInProgress(LeaderboardError):
    status = 409
    code = "rebuild_in_progress"

    def __init__(self, rebuild_id):
        super().__init__(
            f"Rebuild {rebuild_id} is still running; wait for it to finish "
            "(a crashed rebuild's flag expires after an hour)."
        )
        self.rebuild_id = rebuild_id


def error_response(status, code, message, fields=None):
    body = {"code": code, "message": message}
    if fields is not None:
        body["fields"] = fields
    response = jsonify(error=body)
    response.status_code = status
    return response


def init_app(app):
    @app.errorhandler(LeaderboardError)
    def handle_leaderboard_error(error):
        return error_response(error.status, error.code, error.message, error.fields)

    @app.errorhandler(RequestEntityTooLarge)
    def handle_too_large(error):
        limit = app.config["MAX_CONTENT_LENGTH"]
        return error_response(
            413,
            "request_entity_too_large",
            f"The request body is larger than {limit} bytes; send a smaller body.",
        )

    @app.errorhandler(HTTPException)
    def handle_http_exception(error):
        code = (error.name or "error").lower().replace(" ", "_")
        response = error_response(error.code, code, error.description)
        # Keep the headers that the exception sets, such as Allow on a 405, but not its HTML Content-Type.
        for name, value in error.get_headers():
            if name.lower() != "content-type":
                response.headers[name] = value
        return response

    @app.errorhandler(redis.exceptions.ConnectionError)
    @app.errorhandler(redis.exceptions.TimeoutError)
    def handle_redis_unavailable(error):
        log.error("Redis unavailable: %s", error)
        return error_response(
            503, "redis_unavailable", "Redis cannot be reached; retry the request later."
        )

    @app.errorhandler(peewee.OperationalError)
    @app.errorhandler(peewee.InterfaceError)
    def handle_database_unavailable(error):
        log.error("database unavailable: %s", error)
        return error_response(
            503, "database_unavailable", "The database cannot be reached; retry the request later."
        )

    @app.errorhandler(Exception)
    def handle_unexpected(error):
        log.exception("unhandled error")
        return error_response(500, "internal_error", "An unexpected error occurred; it has been logged.")
