"""WSGI entry point for gunicorn: ``gunicorn wsgi:app``."""

from leaderboard import create_app

app = create_app()
