"""Prometheus metrics: requests per route and status, their duration, and how far each
read model lags behind the event log."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from time import perf_counter
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.deps import Kept
from projections.framework import ProjectionStatus


class ProjectionLag(Collector):
    """Read at each scrape: events of the log each read model has still to apply."""

    def __init__(self, status: Callable[[], list[ProjectionStatus]]) -> None:
        self.status = status

    def _family(self) -> GaugeMetricFamily:
        return GaugeMetricFamily(
            "hoso_projection_lag_events",
            "Events of the log a read model has not applied yet",
            labels=["projection"],
        )

    def describe(self) -> Iterable[Metric]:
        return [self._family()]

    def collect(self) -> Iterable[Metric]:
        family = self._family()
        for s in self.status():
            family.add_metric([s.name], s.lag)
        return [family]


class KeptAnswers(Collector):
    """Read at each scrape: how often a kept answer was served, and how often not."""

    def __init__(self, kept: Kept) -> None:
        self.kept = kept

    def _family(self) -> CounterMetricFamily:
        return CounterMetricFamily(
            "hoso_read_cache_lookups",
            "Lookups of answers kept per generation of the read models (roster pages), by result",
            labels=["result"],
        )

    def describe(self) -> Iterable[Metric]:
        return [self._family()]

    def collect(self) -> Iterable[Metric]:
        family = self._family()
        family.add_metric(["hit"], self.kept.hits)
        family.add_metric(["miss"], self.kept.misses)
        return [family]


class Metrics:
    """The application's own registry (one per application, so that tests may build
    several)."""

    def __init__(self, status: Callable[[], list[ProjectionStatus]], kept: Kept) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "hoso_http_requests",
            "HTTP requests answered, by route and status",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.duration = Histogram(
            "hoso_http_request_duration_seconds",
            "Time to answer an HTTP request, by route",
            ["method", "route"],
            registry=self.registry,
        )
        self.registry.register(ProjectionLag(status))
        self.registry.register(KeptAnswers(kept))


class MetricsMiddleware:
    """Counts every HTTP request under its route's path template (never the raw path, so
    ids do not become labels)."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = perf_counter()
        status = 500

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            route: Any = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            method = scope.get("method", "")
            self.metrics.requests.labels(method, template, str(status)).inc()
            self.metrics.duration.labels(method, template).observe(perf_counter() - started)
