"""Prometheus metrics of a realtime server: ``jupyter_rt_*`` in Jupyter's ``{base_url}metrics``.

The Jupyter extension turns them on by default (``c.RealtimeApp.metrics = False`` turns them
off); any other host::

    metrics = ServerMetrics(io, engine=driver.engine)  # counts from now on
    metrics.register()       # into prometheus_client.REGISTRY (or register(registry))
    ...
    metrics.close()          # out of the registry, counting stops

Counting costs a few integer additions per message (:mod:`~jupyter_rt.metrics.counts`, an
observer of the server); the Prometheus families are built only when scraped
(:mod:`~jupyter_rt.metrics.collector`). :data:`METRICS` lists every metric.
"""

from __future__ import annotations

from jupyter_rt.metrics.collector import METRICS, MetricSpec, RealtimeCollector, ServerMetrics
from jupyter_rt.metrics.counts import HANDLER_BUCKETS, MAX_NAMESPACE_LABELS, Counts

__all__ = [
    "HANDLER_BUCKETS",
    "MAX_NAMESPACE_LABELS",
    "METRICS",
    "Counts",
    "MetricSpec",
    "RealtimeCollector",
    "ServerMetrics",
]
