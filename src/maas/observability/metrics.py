"""Prometheus metrics, one registry per app (no global state)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

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

    def observe_load(self, model: str, version: int, seconds: float) -> None:
        self.model_load_seconds.labels(model, str(version)).observe(seconds)

    def observe_prediction(self, model: str, version: int, rows: int, seconds: float) -> None:
        labels = (model, str(version))
        self.predictions.labels(*labels).inc()
        self.prediction_rows.labels(*labels).inc(rows)
        self.prediction_seconds.labels(*labels).observe(seconds)

    def render(self) -> bytes:
        return generate_latest(self.registry)
