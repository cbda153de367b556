"""Award points and read the board."""

from flask import Blueprint, current_app, request

from leaderboard import awarding
from leaderboard.api.requests import extension, load_args, load_body
from leaderboard.schemas import (
    AwardRequestSchema,
    BoardQuerySchema,
    UserPathSchema,
    award_body,
    board_page_body,
    standing_body,
)

blueprint = Blueprint("board", __name__, url_prefix="/api/leaderboard")

award_request_schema = AwardRequestSchema()
board_query_schema = BoardQuerySchema()
user_path_schema = UserPathSchema()


@blueprint.post("/award")
def award():
    idempotency_key = awarding.read_idempotency_key(request.headers)
    body = load_body(award_request_schema)
    result = awarding.award(
        extension("repository"),
        body,
        idempotency_key=idempotency_key,
        idempotency_ttl_seconds=current_app.config["IDEMPOTENCY_TTL_SECONDS"],
    )
    headers = {"Idempotent-Replayed": "true"} if result.replayed else {}
    return award_body(body, result), 202, headers


@blueprint.get("")
def board():
    query = load_args(board_query_schema, request.args.to_dict())
    standings, total = extension("repository").top(query["limit"], query["offset"])
    return board_page_body(standings, total, query["limit"], query["offset"])


@blueprint.get("/user/<user_id>")
def standing(user_id):
    user_id = load_args(user_path_schema, {"user_id": user_id})["user_id"]
    return standing_body(extension("repository").standing(user_id))
