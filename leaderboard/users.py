"""Register and rename users in the database and in Redis's copy of the usernames."""

import logging

import peewee

from leaderboard.errors import UsernameTaken, UserNotFound
from leaderboard.models import User, database_proxy

log = logging.getLogger(__name__)


def _save(repository, user_id, username):
    with database_proxy.atomic():
        owner = User.get_or_none(User.username == username)
        if owner is not None and owner.id != user_id:
            raise UsernameTaken(username, owner.id)
        user = User.get_or_none(User.id == user_id)
        created = user is None
        if created:
            user = User.create(id=user_id, username=username)
        elif user.username != username:
            user.username = username
            user.save()
        # Written before the commit: if Redis is down the transaction rolls back, and
        # the user exists in neither store.
        repository.set_username(user_id, username)
    return user, created


def save_user(repository, user_id, username):
    """Register user_id with username, or rename it. Returns (user, created).

    The database enforces unique usernames. Redis gets the username inside the
    database transaction, so a Redis failure leaves no half-registered user. Only a
    commit that fails after the Redis write leaves a name there that the database
    lacks; a repeated PUT corrects it.
    """
    try:
        user, created = _save(repository, user_id, username)
    except peewee.IntegrityError:
        # A concurrent request registered the same id or took the same username between
        # our check and our write. The second attempt reads its committed row.
        user, created = _save(repository, user_id, username)
    log.info("user %s %s as %r", user_id, "registered" if created else "saved", username)
    return user, created


def get_user(user_id):
    user = User.get_or_none(User.id == user_id)
    if user is None:
        raise UserNotFound(user_id)
    return user
