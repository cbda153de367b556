"""Mount rq-dashboard at /rq behind HTTP basic auth."""

import hmac
import logging

from flask import request

from leaderboard.errors import error_response

log = logging.getLogger(__name__)

URL_PREFIX = "/rq"


def init_app(app):
    """Mount the dashboard only when both credentials are configured."""
    username = app.config["RQ_DASHBOARD_USERNAME"]
    password = app.config["RQ_DASHBOARD_PASSWORD"]
    if not (username and password):
        log.debug("rq-dashboard not mounted: set RQ_DASHBOARD_USERNAME and RQ_DASHBOARD_PASSWORD")
        return

    import rq_dashboard
    from rq_dashboard.web import setup_rq_connection

    # rq-dashboard reads the same URL, so it shows the Redis database the service uses.
    app.config.from_object(rq_dashboard.default_settings)
    app.config["RQ_DASHBOARD_REDIS_URL"] = [app.config["REDIS_URL"]]
    setup_rq_connection(app)
    app.register_blueprint(rq_dashboard.blueprint, url_prefix=URL_PREFIX)

    @app.before_request
    def require_dashboard_credentials():
        if request.blueprint != rq_dashboard.blueprint.name:
            return None
        auth = request.authorization
        if (
            auth is not None
            and auth.type == "basic"
            and hmac.compare_digest((auth.username or "").encode(), username.encode())
            and hmac.compare_digest((auth.password or "").encode(), password.encode())
        ):
            return None
        response = error_response(
            401, "unauthorized", "The RQ dashboard needs the RQ_DASHBOARD_USERNAME and RQ_DASHBOARD_PASSWORD credentials."
        )
        response.headers["WWW-Authenticate"] = 'Basic realm="RQ Dashboard"'
        return response
