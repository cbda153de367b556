"""Register, rename and read users."""

from flask import Blueprint

from leaderboard import users
from leaderboard.api.requests import extension, load_args, load_body
from leaderboard.schemas import UserPathSchema, UserRequestSchema, UserSchema

blueprint = Blueprint("users", __name__, url_prefix="/api/users")

user_path_schema = UserPathSchema()
user_request_schema = UserRequestSchema()
user_schema = UserSchema()


@blueprint.put("/<user_id>")
def put_user(user_id):
    user_id = load_args(user_path_schema, {"user_id": user_id})["user_id"]
    body = load_body(user_request_schema)
    user, created = users.save_user(extension("repository"), user_id, body["username"])
    return user_schema.dump(user), 201 if created else 200


@blueprint.get("/<user_id>")
def get_user(user_id):
    user_id = load_args(user_path_schema, {"user_id": user_id})["user_id"]
    return user_schema.dump(users.get_user(user_id))
