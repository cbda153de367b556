"""Register and rename users: the database first, then the Redis copy of the username."""

import logging

import peewee

from leaderboard.errors import UsernameTaken, UserNotFound
from leaderboard.models import User, database_proxy

log = logging.getLogger(__name__)


def _save(user_id, username):
    with database_proxy.atomic():
        owner = User.get_or_none(User.username == username)
        if owner is not None and owner.id != user_id:
            raise UsernameTaken(username, owner.id)
        user = User.get_or_none(User.id == user_id)
        if user is None:
            return User.create(id=user_id, username=username), True
        if user.username != username:
            user.username = username
            user.save()
        return user, False


def save_user(repository, user_id, username):
    """Register user_id with username, or rename it. Returns (user, created).

    The database row is written first because it enforces unique usernames; Redis gets
    the username after the commit. If Redis fails at that point the caller gets 503 and
    a repeated PUT, or a rebuild, copies the username again.
    """
    try:
        user, created = _save(user_id, username)
    except peewee.IntegrityError:
        # A concurrent request registered the same id or took the same username between
        # our check and our write; the second attempt sees its committed row.
        user, created = _save(user_id, username)
    repository.set_username(user_id, username)
    log.info("user %s %s as %r", user_id, "registered" if created else "saved", username)
    return user, created


def get_user(user_id):
    user = User.get_or_none(User.id == user_id)
    if user is None:
        raise UserNotFound(user_id)
    return user
