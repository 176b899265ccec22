"""``GET /dashboard``: the page on-call people open (utils/report/dashboard.py draws it).

It reads what the other endpoints read (the model served and its health, models/monitoring.json)
and the store's deployments and rollbacks. The page is drawn at most once per
``RENDER_EVERY_S`` per worker: a tab left open refreshes every minute, and a drawing takes a
few hundred milliseconds. A store that cannot be read costs the markers, never the page.
"""

from __future__ import annotations

import logging
import time

from flask import Blueprint, Response

from utils.api.routes import health_body, model_body, read_monitoring
from utils.api.state import api_state
from utils.errors import PipelineError, first_line

log = logging.getLogger("api")

dashboard = Blueprint("dashboard", __name__)
RENDER_EVERY_S = 30


def _deployments(store_url: str | None) -> tuple[list[dict], str | None]:
    """The store's deployments and rollbacks, oldest first, or a note saying why not."""
    if not store_url:
        return [], None
    from utils.ops.events import EventKind
    from utils.report.html import deployment_rows
    from utils.store.history import MonitoringStore

    try:
        store = MonitoringStore(store_url)
        try:
            return deployment_rows(
                store.deployment_history(), store.events_of(EventKind.ROLLBACK)
            ), None
        finally:
            store.close()
    except Exception as err:  # noqa: BLE001 - any driver error; the page goes on without markers
        log.warning("dashboard: the store could not be read (%s)", first_line(err))
        return [], f"Deployments are not marked: the store could not be read ({first_line(err)})."


def _page() -> str:
    from utils.report.dashboard import DashboardData, render_dashboard

    state = api_state()
    loaded = state.model.current()
    notes = []
    try:
        monitoring = read_monitoring()
    except PipelineError as err:
        monitoring = None
        notes.append(str(err))
    deployments, store_note = _deployments(state.settings.store_url)
    notes += [store_note] if store_note else []
    return render_dashboard(
        DashboardData(
            health=health_body(),
            model=model_body(loaded) if loaded is not None else None,
            features=list(loaded.features if loaded is not None else state.settings.features),
            monitoring=monitoring,
            deployments=deployments,
            notes=notes,
        )
    )


@dashboard.get("/dashboard")
def dashboard_page() -> Response:
    state = api_state()
    loaded, refused = state.model.state()
    page = state.cache.get(
        "dashboard",
        [],
        _page,
        extra=(
            loaded and str(loaded.release),
            refused and refused.release,
            int(time.time() // RENDER_EVERY_S),
        ),
    )
    return Response(page, content_type="text/html; charset=utf-8")
