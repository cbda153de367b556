"""Parse and validate request bodies, query strings and path ids through schemas."""

import json

from flask import current_app, request
from marshmallow import ValidationError
from werkzeug.exceptions import RequestEntityTooLarge

from leaderboard.errors import InvalidRequest, UnsupportedMediaType, ValidationFailed


def _object_without_duplicate_keys(pairs):
    body = {}
    for key, value in pairs:
        if key in body:
            raise ValueError(f"duplicate key {key!r}")
        body[key] = value
    return body


class NonFiniteNumber:
    """Stands in for a NaN or Infinity token so that validation names the field."""

    def __init__(self, token):
        self.token = token


def _json_body():
    if request.mimetype != "application/json":
        received = request.content_type or "none"
        raise UnsupportedMediaType(
            f"Content-Type must be application/json (received {received}); "
            "send the body as JSON with that header."
        )
    raw = request.get_data(cache=True)
    _reject_streamed_body_over_limit(raw)
    if not raw.strip():
        raise InvalidRequest("The request body is empty; send a JSON object.")
    try:
        text = raw.decode("utf-8")
        body = json.loads(
            text, parse_constant=NonFiniteNumber, object_pairs_hook=_object_without_duplicate_keys
        )
    except UnicodeDecodeError:
        raise InvalidRequest("The request body is not valid UTF-8; send UTF-8 encoded JSON.") from None
    except ValueError as error:
        raise InvalidRequest(f"The request body is not valid JSON ({error}); send a JSON object.") from None
    except RecursionError:
        raise InvalidRequest(
            "The request body nests arrays or objects too deeply to parse; send a flat JSON object."
        ) from None
    if not isinstance(body, dict):
        raise InvalidRequest(
            f"The request body must be a JSON object, not a JSON {type(body).__name__}; "
            'send for example {"user_id": 1, ...}.'
        )
    return body


def _reject_streamed_body_over_limit(raw):
    """Raise 413 when a body sent without Content-Length (chunked) is larger than the limit.

    For such a body Werkzeug 3.1 stops reading at MAX_CONTENT_LENGTH and returns the bytes
    read so far without an error, so the rest would be dropped silently. One more byte read
    from the server's stream distinguishes a body of exactly the limit from a larger one.
    """
    limit = request.max_content_length
    if request.content_length is None and limit is not None and len(raw) >= limit:
        if request.environ["wsgi.input"].read(1):
            raise RequestEntityTooLarge()


def load_body(schema):
    """Validate the JSON object body of the current request with schema and return it."""
    try:
        return schema.load(_json_body())
    except ValidationError as error:
        raise ValidationFailed(error.normalized_messages()) from None


def load_args(schema, values):
    """Validate query parameters or path values with schema and return them."""
    try:
        return schema.load(values)
    except ValidationError as error:
        raise ValidationFailed(error.normalized_messages()) from None


def extension(name):
    return current_app.extensions[name]
