"""The endpoint's Prometheus metrics, in a registry of each application's own."""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST as CONTENT_TYPE
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

__all__ = ["CONTENT_TYPE", "Metrics"]

_SECONDS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "countonce_webhook_requests",
            "Requests to POST /v1/events, by response status.",
            ["status"],
            registry=self.registry,
        )
        self.events_landed = Counter(
            "countonce_webhook_events_landed",
            "Events committed to raw.order_events.",
            registry=self.registry,
        )
        self.events_rejected = Counter(
            "countonce_webhook_events_rejected",
            "Events committed to raw.load_rejects, by reason.",
            ["reason"],
            registry=self.registry,
        )
        self.commit_seconds = Histogram(
            "countonce_webhook_commit_seconds",
            "Time from taking a group of requests to its COPY transaction's commit.",
            buckets=_SECONDS,
            registry=self.registry,
        )
        self.transaction_requests = Histogram(
            "countonce_webhook_transaction_requests",
            "Requests grouped into one COPY transaction.",
            buckets=(1, 2, 5, 10, 20, 50, 100, 200, 500),
            registry=self.registry,
        )
        self.acknowledge_seconds = Histogram(
            "countonce_webhook_acknowledge_seconds",
            "Time from a request's body being read to its acknowledgement.",
            buckets=_SECONDS,
            registry=self.registry,
        )

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
