"""The HTTP application: the services on ``app.state``, one router per resource, errors as
problem details and Prometheus metrics."""

from __future__ import annotations

import gc
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from anyio import to_thread
from fastapi import Depends, FastAPI, Request
from fastapi.openapi.utils import get_openapi
from fastapi.responses import RedirectResponse

from api import errors, web
from api.auth import prepare_auth
from api.deps import Kept, Services
from api.metrics import Metrics, MetricsMiddleware
from api.routers import (
    accounts,
    alerts,
    approvals,
    archive,
    audit,
    auth,
    change_sets,
    deadlines,
    health,
    national_sync,
    notices,
    profiles,
    reports,
    transitions,
    units,
)
from api.schemas import Problem
from domain.application import Ledger
from domain.settings import Settings
from operations import tables as operations_tables
from operations.scheduler import BackgroundJobs
from projections import catalogue
from projections.database import advisory_lock, read_model_engine
from signing.approvals import Approvals

DESCRIPTION = """
Personnel records (hồ sơ) of cadres, civil servants, public employees and contract
workers, as an event-sourced ledger.

**Signing in.** Every `/api/…` endpoint but `/api/healthz` needs a bearer token
(`Authorization: Bearer …`) or the session cookie with its CSRF token.

**Versions.** Commands on a profile take `expected_version` in the body: the `version` of
the profile the caller last read. If the profile changed since, nothing changes and the
answer is **409** `version_conflict` with `current_version`.

**Errors** are `application/problem+json` (RFC 9457): `{type, title, status, detail, code,
detail_en, field?}`: `code` is stable, `detail` is Vietnamese, `detail_en` the English
wording. A resource the caller may not see answers **404**, exactly as one that does not
exist.

**Restricted fields.** Field groups with an access-restriction level show
`{"restricted": true, "level": N}` to callers not cleared for them; every read of
restricted values, and every refusal, is recorded in the audit trail.
"""

ROUTERS = (
    auth,
    accounts,
    units,
    profiles,
    change_sets,
    transitions,
    approvals,
    audit,
    archive,
    deadlines,
    alerts,
    notices,
    reports,
    health,
    national_sync,
)


def create_app(
    settings: Settings | None = None, *, scheduler: bool = False, long_lived: bool = False
) -> FastAPI:
    """``scheduler``: run the scheduled jobs (operations.scheduler) in this process too.
    ``long_lived``: the process serves this application and nothing else until it stops
    (``long_lived_process``)."""
    settings = settings or Settings()
    reader = read_model_engine(settings)
    # Server processes starting together create what is missing one at a time: at once,
    # all but one ``CREATE … IF NOT EXISTS`` may fail ("tuple concurrently updated").
    with advisory_lock(reader, "schema"):
        ledger = Ledger(settings)
    projector = catalogue.projector(ledger, read_model_engine(settings, writer=True))
    svc = Services(
        ledger, projector, reader, Approvals(ledger), pages=Kept(settings.read_cache_pages)
    )
    stop = threading.Event()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Handlers that block run in worker threads: as many at once as there are database
        # connections kept for them (projections.database), the other requests wait.
        to_thread.current_default_thread_limiter().total_tokens = settings.request_threads
        with advisory_lock(reader, "schema"):
            projector.prepare()
            prepare_auth(app, settings)
            operations_tables.prepare(projector.engine)
        follower = threading.Thread(
            target=projector.follow, args=(stop,), daemon=True, name="projector"
        )
        follower.start()
        await svc.open_async()
        if long_lived:
            long_lived_process()
        jobs = BackgroundJobs(settings, ledger, projector) if scheduler else None
        yield
        if jobs is not None:
            jobs.close()
        stop.set()
        follower.join(timeout=10)
        await svc.close_async()
        store = getattr(app.state, "auth", None)
        if store is not None:
            store.dispose()
        reader.dispose()
        projector.engine.dispose()
        ledger.close()

    app = FastAPI(
        title="hoso",
        version="0.1.0",
        summary="Event-sourced personnel records for Vietnamese state bodies",
        description=DESCRIPTION,
        lifespan=lifespan,
        dependencies=[Depends(errors.printable_input)],
    )
    app.state.services = svc
    app.state.metrics = Metrics(projector.status, svc.pages)
    app.add_middleware(MetricsMiddleware, metrics=app.state.metrics)
    errors.install(app)
    for module in ROUTERS:
        app.include_router(module.router)
    _landing(app, svc)
    web.install(app)

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title,
                version=app.version,
                summary=app.summary,
                description=app.description,
                routes=app.routes,
            )
            components = schema.setdefault("components", {}).setdefault("schemas", {})
            components.setdefault(
                "Problem", Problem.model_json_schema(ref_template="#/components/schemas/{model}")
            )
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app


def serving_app() -> FastAPI:
    """The application of a server process (``hoso serve``, each of uvicorn's workers):
    with the scheduled jobs unless the settings turn them off, and long-lived."""
    settings = Settings()
    return create_app(settings, scheduler=settings.scheduler, long_lived=True)


# Allocations between two collections of the youngest generation (Python's default: 700).
GC_THRESHOLD = 20_000


def long_lived_process() -> None:
    """Once started, what start-up made (the application, its routes, schemas, pools)
    lives as long as the process: frozen out of the garbage collector's reach, a full
    collection walks only what requests made since. A full collection pauses every request
    in flight (up to 260 ms under the api benchmark before this). Young collections run
    less often, so full ones do too."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(GC_THRESHOLD, 10, 10)


def _landing(app: FastAPI, svc: Services) -> None:
    """The public front door: what the service is and where to go; no personnel data. A
    browser is sent on to the web application (its login page when signed out)."""

    @app.get("/", include_in_schema=False, response_model=None)
    def landing(request: Request) -> dict[str, Any] | RedirectResponse:
        if "text/html" in request.headers.get("accept", ""):
            return RedirectResponse(web.page.HOME_PATH, status_code=303)
        return {
            "service": app.title,
            "summary": app.summary,
            "version": app.version,
            "jurisdiction": svc.ledger.jurisdiction.code,
            "links": {
                "documentation": "/docs",
                "openapi": "/openapi.json",
                "health": "/api/healthz",
                "login": "/api/auth/login",
            },
        }
