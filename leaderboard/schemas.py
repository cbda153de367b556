"""Marshmallow schemas for every request input and response body."""

import re

from marshmallow import EXCLUDE, Schema, ValidationError, fields, validate, validates

from leaderboard.awards import MAX_SAFE_INTEGER

MAX_ABS_POINTS = 1_000_000_000
MAX_PAGE_LIMIT = 1000
# The C0 controls, DEL, the C1 controls (U+0080 to U+009F, NEL among them) and the
# Unicode line and paragraph separators, which break lines like a newline does.
CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


class StrictInteger(fields.Integer):
    """An integer that must arrive as a JSON integer: no bool, float or numeric string."""

    default_error_messages = {
        "invalid": "Must be a JSON integer, for example 42 (not a string, float, boolean, NaN or Infinity)."
    }

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.make_error("invalid")
        return value


class QueryInteger(fields.Integer):
    """An integer read from a query string or a path segment: decimal digits only, within a range."""

    default_error_messages = {"invalid": "Must be a whole number from {minimum} to {maximum}, in decimal digits."}

    def __init__(self, minimum, maximum, **kwargs):
        super().__init__(**kwargs)
        self.minimum = minimum
        self.maximum = maximum

    def _deserialize(self, value, attr, data, **kwargs):
        # The length check keeps int() away from huge digit strings, which are out of range anyway.
        if not isinstance(value, str) or not re.fullmatch(r"[0-9]{1,20}", value) or not (
            self.minimum <= int(value) <= self.maximum
        ):
            raise self.make_error("invalid", minimum=self.minimum, maximum=self.maximum)
        return int(value)


class Text(fields.String):
    """A string that both databases can store: valid UTF-8 without control characters.

    JSON allows an unpaired surrogate escape such as "\\ud800", which sqlite3 and psycopg2
    reject with UnicodeEncodeError, and "\\u0000", which PostgreSQL cannot store in text.
    """

    def _deserialize(self, value, attr, data, **kwargs):
        text = super()._deserialize(value, attr, data, **kwargs)
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            raise ValidationError(
                "Must be valid Unicode text, without unpaired surrogate escapes such as \\ud800."
            ) from None
        if CONTROL_CHARACTERS.search(text):
            raise ValidationError("Must not contain control characters such as NUL, newlines or tabs.")
        return text


class Username(Text):
    def _deserialize(self, value, attr, data, **kwargs):
        username = super()._deserialize(value, attr, data, **kwargs)
        if not username.strip():
            raise ValidationError("Must contain a character other than white space.")
        return username


class AwardRequestSchema(Schema):
    user_id = StrictInteger(
        required=True,
        validate=validate.Range(min=1, max=MAX_SAFE_INTEGER, error="Must be a user id from {min} to {max}."),
    )
    points = StrictInteger(
        required=True,
        validate=validate.Range(
            min=-MAX_ABS_POINTS,
            max=MAX_ABS_POINTS,
            error="Must be between {min} and {max}; negative points are corrections.",
        ),
    )
    source = Text(
        required=True,
        validate=validate.Length(min=1, max=64, error="Must be 1 to 64 characters long."),
    )

    @validates("points")
    def validate_nonzero(self, value, **kwargs):
        if value == 0:
            raise ValidationError("Must not be 0; send a positive award or a negative correction.")


class UserPathSchema(Schema):
    user_id = QueryInteger(1, MAX_SAFE_INTEGER, required=True)


class UserRequestSchema(Schema):
    username = Username(
        required=True,
        validate=validate.Length(min=1, max=64, error="Must be 1 to 64 characters long."),
    )


class BoardQuerySchema(Schema):
    class Meta:
        # Unknown query parameters, such as a cache buster, are ignored rather than rejected.
        unknown = EXCLUDE

    limit = QueryInteger(1, MAX_PAGE_LIMIT, load_default=100)
    offset = QueryInteger(0, MAX_SAFE_INTEGER, load_default=0)


class UserSchema(Schema):
    user_id = fields.Integer(attribute="id")
    username = fields.String()
    created_at = fields.DateTime(format="iso")


# Responses on the hot paths are built as plain dicts: marshmallow's dump took more CPU
# than the rest of a top-100 request.


def standing_body(standing):
    return {
        "rank": standing.rank,
        "user_id": standing.user_id,
        "username": standing.username,
        "score": standing.score,
    }


def board_page_body(standings, total, limit, offset):
    return {
        "entries": [standing_body(standing) for standing in standings],
        "limit": limit,
        "offset": offset,
        "total": total,
    }


def award_body(request_body, result):
    return {
        "transaction_id": result.transaction_id,
        "user_id": request_body["user_id"],
        "points": request_body["points"],
        "source": request_body["source"],
        "score": result.score,
        "rank": result.rank,
    }
