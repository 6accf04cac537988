"""Prometheus metrics, one registry per app (no global state)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily
from prometheus_client.registry import Collector

__all__ = ["Metrics"]

_LATENCY_BUCKETS = (
    0.0005,
    0.001,
    0.002,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
)


class Metrics:
    """The server's metrics. ``render()`` gives the text exposition format."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "maas_http_requests_total",
            "HTTP requests by route template, method and status.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.request_seconds = Histogram(
            "maas_http_request_duration_seconds",
            "HTTP request latency by route template.",
            ["method", "route"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.predictions = Counter(
            "maas_predictions_total",
            "Prediction requests by model and version.",
            ["model", "version"],
            registry=self.registry,
        )
        self.prediction_rows = Counter(
            "maas_prediction_rows_total",
            "Rows predicted by model and version.",
            ["model", "version"],
            registry=self.registry,
        )
        self.prediction_seconds = Histogram(
            "maas_prediction_duration_seconds",
            "Time spent in the model (input encoding included) by model and version.",
            ["model", "version"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.model_load_seconds = Histogram(
            "maas_model_load_duration_seconds",
            "Time to fetch, verify and load a model version into memory.",
            ["model", "version"],
            buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
            registry=self.registry,
        )
        self.models_loaded = Gauge(
            "maas_models_loaded", "Model versions held in memory.", registry=self.registry
        )
        # The labelled children, looked up once (``labels()`` costs microseconds a call); the
        # label values are bounded (route templates, statuses, registered model versions).
        self._prediction_children: dict[tuple[str, int], tuple[Any, ...]] = {}
        self._request_children: dict[tuple[str, str, int], tuple[Any, ...]] = {}

    def observe_load(self, model: str, version: int, seconds: float) -> None:
        self.model_load_seconds.labels(model, str(version)).observe(seconds)

    def observe_prediction(self, model: str, version: int, rows: int, seconds: float) -> None:
        children = self._prediction_children.get((model, version))
        if children is None:
            labels = (model, str(version))
            children = (
                self.predictions.labels(*labels),
                self.prediction_rows.labels(*labels),
                self.prediction_seconds.labels(*labels),
            )
            self._prediction_children[(model, version)] = children
        children[0].inc()
        children[1].inc(rows)
        children[2].observe(seconds)

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        """Count one HTTP request (``route`` is its path template) and its latency."""
        children = self._request_children.get((method, route, status))
        if children is None:
            children = (
                self.requests.labels(method, route, str(status)),
                self.request_seconds.labels(method, route),
            )
            self._request_children[(method, route, status)] = children
        children[0].inc()
        children[1].observe(seconds)

    def count_from(self, name: str, documentation: str, read: Callable[[], float]) -> None:
        """Expose a count kept elsewhere (``read`` returns its current total) as the counter
        ``<name>_total``, read when the metrics are rendered."""
        self.registry.register(_ReadCounter(name, documentation, read))

    def render(self) -> bytes:
        return generate_latest(self.registry)


class _ReadCounter(Collector):
    def __init__(self, name: str, documentation: str, read: Callable[[], float]) -> None:
        self.name, self.documentation, self.read = name, documentation, read

    def collect(self) -> Iterator[CounterMetricFamily]:
        yield CounterMetricFamily(self.name, self.documentation, value=self.read())
