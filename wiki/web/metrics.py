"""Prometheus metrics over HTTP: every request timed by its route, and /-/metrics.

Requests are counted by the Flask URL rule ("/-/edit/<path:name>"), not the path, so the number
of series stays bounded whatever URLs are asked for. WIKI_METRICS decides who reads the numbers:
"admin" (an admin's API token, as Prometheus' `authorization` credentials, or an admin's
session), "off" (404), or a bind HOST:PORT, where the server `wiki serve` starts answers instead
(gunicorn_hooks.py) and /-/metrics here answers 404.
"""

from __future__ import annotations

import time

from flask import Blueprint, Flask, Response, abort, current_app, g, request, request_finished, request_started

from ..core import metrics
from ..core.metrics import Exposure, ExposureMode
from .access import current_actor

bp = Blueprint("metrics", __name__)


def _started(sender: Flask, **_) -> None:
    g.metrics_started = time.perf_counter()


def _finished(sender: Flask, response: Response, **_) -> None:
    started = g.get("metrics_started")
    rule = request.url_rule
    metrics.observe_request(rule.rule if rule is not None else "unmatched", request.method, response.status_code,
                            time.perf_counter() - started if started is not None else 0.0)


@bp.route("/-/metrics")
def scrape():
    exposure: Exposure = current_app.extensions["tacit.metrics"]
    if exposure.mode is not ExposureMode.ADMIN:
        abort(404)
    actor = current_actor()
    if not actor.authenticated:
        return Response("Send an admin's API token as 'Authorization: Bearer <token>'.\n", 401,
                        {"WWW-Authenticate": 'Bearer realm="Tacit metrics"', "Content-Type": "text/plain"})
    if not actor.is_admin:
        return Response("Only admins may read the metrics.\n", 403, {"Content-Type": "text/plain"})
    current_app.extensions["tacit.health"].search_index()  # the index lag measured now, not at the last probe
    body, content_type = metrics.exposition()
    return Response(body, 200, {"Content-Type": content_type, "Cache-Control": "no-store"})


def init_app(app: Flask) -> None:
    """Time every request (signals: they fire even when a before_request hook answers first)."""
    app.extensions["tacit.metrics"] = Exposure.parse(app.config["WIKI_METRICS"])
    request_started.connect(_started, app)
    request_finished.connect(_finished, app)
    app.register_blueprint(bp)
