"""Health and metrics: for load balancers and monitoring, without signing in."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from api.errors import Unavailable
from api.routers import UNAVAILABLE, Svc
from api.schemas import HealthOut

router = APIRouter(tags=["health"])

# Above this lag the instance still answers, but says it is behind.
LAGGING = 1000
METRICS_EXAMPLE = (
    "# HELP hoso_http_requests_total HTTP requests answered, by route and status\n"
    "# TYPE hoso_http_requests_total counter\n"
    'hoso_http_requests_total{method="GET",route="/api/profiles/{profile_id}",status="200"} 12.0\n'
    "# HELP hoso_projection_lag_events Events of the log a read model has not applied yet\n"
    "# TYPE hoso_projection_lag_events gauge\n"
    'hoso_projection_lag_events{projection="roster"} 0.0\n'
)


@router.get(
    "/api/healthz",
    response_model=HealthOut,
    responses=UNAVAILABLE,
)
def health(svc: Svc) -> dict[str, Any]:
    """The store answers, and how far each read model lags behind the event log."""
    try:
        statuses = svc.projector.status()
    except Exception as exc:
        raise Unavailable(f"the store does not answer: {type(exc).__name__}") from None
    lag = max((s.lag for s in statuses), default=0)
    head = max((s.head for s in statuses), default=0)
    store = "postgresql" if svc.ledger.settings.database_url else "sqlite"
    return {
        "status": "lagging" if lag > LAGGING else "ok",
        "jurisdiction": svc.ledger.jurisdiction.code,
        "store": store,
        "head": head,
        "lag": lag,
        "projections": [
            {"name": s.name, "position": s.position, "head": s.head, "lag": s.lag} for s in statuses
        ],
    }


@router.get(
    "/metrics",
    response_class=Response,
    responses={
        200: {
            "description": "Prometheus text exposition format",
            "content": {"text/plain": {"example": METRICS_EXAMPLE}},
        }
    },
)
def metrics(request: Request) -> Response:
    """Requests per route and status, their duration, and the projection lag."""
    registry = request.app.state.metrics.registry
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
