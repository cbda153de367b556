"""The web stack's ceiling: a Flask app that parses an award body and returns a small JSON object.

The benchmark runs it under the same gunicorn command as the service, so the ratio of
the service's requests/s to this app's is the share of the web stack's capacity that
the service reaches. It touches no Redis and no database.
"""

from flask import Flask, request

app = Flask(__name__)


@app.post("/api/leaderboard/award")
def award():
    body = request.get_json()
    return {"user_id": body["user_id"], "points": body["points"]}, 202
