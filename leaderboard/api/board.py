"""Award points and read the board."""

from flask import Blueprint, current_app, request

from leaderboard import awarding
from leaderboard.api.requests import extension, load_args, load_body
from leaderboard.schemas import (
    AwardRequestSchema,
    AwardResponseSchema,
    BoardPageSchema,
    BoardQuerySchema,
    StandingSchema,
    UserPathSchema,
)

blueprint = Blueprint("board", __name__, url_prefix="/api/leaderboard")

award_request_schema = AwardRequestSchema()
award_response_schema = AwardResponseSchema()
board_query_schema = BoardQuerySchema()
board_page_schema = BoardPageSchema()
standing_schema = StandingSchema()
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
    response = award_response_schema.dump({**body, **result.__dict__})
    headers = {"Idempotent-Replayed": "true"} if result.replayed else {}
    return response, 202, headers


@blueprint.get("")
def board():
    query = load_args(board_query_schema, request.args.to_dict())
    standings, total = extension("repository").top(query["limit"], query["offset"])
    return board_page_schema.dump({"entries": standings, "total": total, **query})


@blueprint.get("/user/<user_id>")
def standing(user_id):
    user_id = load_args(user_path_schema, {"user_id": user_id})["user_id"]
    return standing_schema.dump(extension("repository").standing(user_id))
