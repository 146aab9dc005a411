"""Prometheus metrics of one app, in a registry of its own (never the global one).

- ``tropesearch_http_requests_total{endpoint,method,status}``: requests answered;
- ``tropesearch_http_request_duration_seconds{endpoint,status}``: latency histogram;
- ``tropesearch_index_info{version,model,index_type}``: 1 for the version being served;
- ``tropesearch_index_passages``, ``tropesearch_index_tropes``: its size;
- ``tropesearch_index_ready``: 1 when an index is loaded and warmed;
- ``tropesearch_index_reloads_total{result}``: version loads that succeeded / failed.

The index gauges are read from the IndexHolder at scrape time, so they are never stale. With
gunicorn each worker has its own registry: a scrape sees the worker that answered it.
"""

from __future__ import annotations

import time

from flask import Flask, Response, g, request
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from .holder import IndexHolder

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class IndexCollector(Collector):
    def __init__(self, holder: IndexHolder):
        self.holder = holder

    def collect(self):
        engine = self.holder.engine
        info = GaugeMetricFamily("tropesearch_index_info", "The index version being served (value 1).",
                                 labels=["version", "model", "index_type"])
        passages = GaugeMetricFamily("tropesearch_index_passages", "Passages in the index version being served.")
        tropes = GaugeMetricFamily("tropesearch_index_tropes", "Tropes in the index version being served.")
        if engine is not None:
            manifest = engine.version.manifest
            info.add_metric([engine.version_id, str(manifest.get("model", {}).get("name", "")),
                             str(manifest.get("index", {}).get("type", ""))], 1)
            passages.add_metric([], engine.version.count)
            tropes.add_metric([], int(manifest.get("counts", {}).get("tropes", 0)))
        else:
            passages.add_metric([], 0)
            tropes.add_metric([], 0)
        ready = GaugeMetricFamily("tropesearch_index_ready", "1 when an index is loaded and warmed up.")
        ready.add_metric([], 1 if engine is not None else 0)
        reloads = CounterMetricFamily("tropesearch_index_reloads", "Index version loads, by result.",
                                      labels=["result"])
        for result, n in self.holder.reloads.items():
            reloads.add_metric([result], n)
        yield from (info, passages, tropes, ready, reloads)


class Metrics:
    """Request counters and latency histograms of one Flask app."""

    def __init__(self, app: Flask, holder: IndexHolder):
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter("tropesearch_http_requests", "HTTP requests answered, by endpoint, method and status.",
                                ["endpoint", "method", "status"], registry=self.registry)
        self.latency = Histogram("tropesearch_http_request_duration_seconds",
                                 "Time to answer an HTTP request, by endpoint and status.",
                                 ["endpoint", "status"], buckets=LATENCY_BUCKETS, registry=self.registry)
        self.registry.register(IndexCollector(holder))
        app.before_request(self._start)
        app.after_request(self._observe)

    @staticmethod
    def _start() -> None:
        g.tropesearch_t0 = time.perf_counter()

    def _observe(self, response: Response) -> Response:
        t0 = g.pop("tropesearch_t0", None)
        # the route's name, not its path, so unknown URLs cannot blow up the label set
        endpoint = request.url_rule.endpoint if request.url_rule is not None else "unmatched"
        status = str(response.status_code)
        self.requests.labels(endpoint, request.method, status).inc()
        if t0 is not None:
            self.latency.labels(endpoint, status).observe(time.perf_counter() - t0)
        return response

    def render(self) -> Response:
        return Response(generate_latest(self.registry), mimetype=None, content_type=CONTENT_TYPE_LATEST)


__all__ = ["Metrics", "IndexCollector"]
