"""Liveness and readiness for load balancers and orchestrators: /-/health and /-/ready.

/-/health answers as soon as the process can answer at all (no disk, no database): restart me if
this fails. /-/ready runs the core's readiness checks (core/health.py): send me visitors only when
this says 200. Both are JSON, never cached, and open to anyone even on a members-only wiki
(web/access.OPEN_ENDPOINTS): they tell states, never content.
"""

from __future__ import annotations

from flask import Blueprint, Flask, current_app, jsonify

from ..core.health import HealthCheck, Readiness

bp = Blueprint("health", __name__)


def health_check() -> HealthCheck:
    return current_app.extensions["tacit.health"]


def _uncached(response):
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.route("/-/health")
def health():
    return _uncached(jsonify(status="alive"))


@bp.route("/-/ready")
def ready():
    report = health_check().ready()
    response = jsonify(report.as_dict())
    response.status_code = 200 if report.state is Readiness.READY else 503
    return _uncached(response)


def init_app(app: Flask) -> None:
    wiki = app.extensions["tacit"]
    app.extensions["tacit.health"] = HealthCheck(wiki.repo, wiki.engine, wiki.search, follower=wiki.follower)
    app.register_blueprint(bp)
