"""The Prometheus side: a collector that reads the servers' counts when it is scraped.

Nothing here runs per message. :class:`ServerMetrics` watches one server (its
:class:`~jupyter_rt.metrics.counts.Counts` observer, its engine's refusals, its Redis adapter)
and registers with a ``prometheus_client`` registry through one :class:`RealtimeCollector` per
registry, shared by every server of the process: each name is registered once, and the figures
of several servers (tests start many in one process) are added up.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, Protocol, runtime_checkable

from prometheus_client import REGISTRY, CollectorRegistry
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)

from jupyter_rt.metrics.counts import HANDLER_BUCKETS, Counts

if TYPE_CHECKING:
    from jupyter_rt.engine import Engine
    from jupyter_rt.server import Server

__all__ = ["METRICS", "MetricSpec", "RealtimeCollector", "RedisHealth", "ServerMetrics"]

log = logging.getLogger("jupyter_rt")

Labels = tuple[str, ...]


@dataclass(frozen=True)
class MetricSpec:
    """One metric: its name (a counter's without ``_total``), kind, labels and help."""

    name: str
    kind: Literal["counter", "gauge", "histogram"]
    labels: Labels
    help: str
    redis: bool = False
    """Only served by a server with a Redis adapter."""

    @property
    def exposed(self) -> str:
        """The name as scraped (``..._total`` for a counter)."""
        return self.name + "_total" if self.kind == "counter" else self.name


METRICS = (
    MetricSpec(
        "jupyter_rt_connected_sockets",
        "gauge",
        ("namespace", "transport"),
        "Sockets connected now, by namespace and by the transport of their connection.",
    ),
    MetricSpec(
        "jupyter_rt_handshakes",
        "counter",
        ("transport",),
        "Engine.IO sessions opened, by the transport they opened on.",
    ),
    MetricSpec(
        "jupyter_rt_refused_requests",
        "counter",
        ("reason",),
        "Engine.IO requests refused (HTTP 4xx/5xx), by reason.",
    ),
    MetricSpec(
        "jupyter_rt_refused_connects",
        "counter",
        ("namespace", "reason"),
        "Socket.IO CONNECTs refused, by namespace (empty: not a served one) and reason.",
    ),
    MetricSpec(
        "jupyter_rt_events_received",
        "counter",
        ("namespace",),
        "Events received from clients.",
    ),
    MetricSpec(
        "jupyter_rt_events_sent",
        "counter",
        ("namespace",),
        "Event packets sent to clients, once per recipient (emits and broadcasts).",
    ),
    MetricSpec(
        "jupyter_rt_received_bytes",
        "counter",
        (),
        "Bytes of the Socket.IO messages and binary attachments clients sent.",
    ),
    MetricSpec(
        "jupyter_rt_sent_bytes",
        "counter",
        (),
        "Bytes of the event packets sent to clients, once per recipient.",
    ),
    MetricSpec(
        "jupyter_rt_broadcasts",
        "counter",
        ("namespace",),
        "Broadcasts delivered to sockets of this server (its own and other servers').",
    ),
    MetricSpec(
        "jupyter_rt_broadcast_deliveries",
        "counter",
        ("namespace",),
        "Sockets of this server the broadcasts were delivered to.",
    ),
    MetricSpec(
        "jupyter_rt_slow_consumers",
        "counter",
        (),
        "Sessions closed because too many bytes waited to be sent to their client.",
    ),
    MetricSpec(
        "jupyter_rt_ack_timeouts",
        "counter",
        ("namespace",),
        "Calls (to a socket or a broadcast's) whose acks did not all come in time.",
    ),
    MetricSpec(
        "jupyter_rt_redis_up",
        "gauge",
        (),
        "1 while the Redis adapter reaches Redis, 0 during an outage.",
        redis=True,
    ),
    MetricSpec(
        "jupyter_rt_redis_publish_errors",
        "counter",
        (),
        "Messages that could not be published to Redis (Redis away or too slow).",
        redis=True,
    ),
    MetricSpec(
        "jupyter_rt_handler_duration_seconds",
        "histogram",
        ("namespace",),
        "Time from a client's event to the end of its handler (async ones: awaits included).",
    ),
)
"""Every metric served, in the order scraped."""


@runtime_checkable
class RedisHealth(Protocol):
    """What the metrics read of a Redis adapter (both of jupyter_rt's have it)."""

    @property
    def redis_available(self) -> bool: ...

    @property
    def redis_publish_errors(self) -> int: ...


class Figures:
    """Samples by metric name and label values, added up over servers."""

    def __init__(self) -> None:
        self.values: dict[str, dict[Labels, float]] = {spec.name: {} for spec in METRICS}
        self.histograms: dict[Labels, tuple[list[int], float]] = {}
        self.redis = False

    def add(self, name: str, labels: Labels, value: float) -> None:
        samples = self.values[name]
        samples[labels] = samples.get(labels, 0) + value

    def add_histogram(self, labels: Labels, buckets: list[int], seconds: float) -> None:
        found = self.histograms.get(labels)
        if found is None:
            self.histograms[labels] = (list(buckets), seconds)
        else:
            total = [a + b for a, b in zip(found[0], buckets, strict=True)]
            self.histograms[labels] = (total, found[1] + seconds)

    def families(self) -> Iterator[Metric]:
        for spec in METRICS:
            if spec.redis and not self.redis:
                continue
            family = _family(spec)
            if isinstance(family, HistogramMetricFamily):
                for labels, (buckets, seconds) in sorted(self.histograms.items()):
                    family.add_metric(list(labels), _cumulative(buckets), seconds)
            else:
                for labels, value in sorted(self.values[spec.name].items()):
                    family.add_metric(list(labels), value)
            yield family


def _family(spec: MetricSpec) -> CounterMetricFamily | GaugeMetricFamily | HistogramMetricFamily:
    labels = list(spec.labels)
    if spec.kind == "counter":
        return CounterMetricFamily(spec.name, spec.help, labels=labels)
    if spec.kind == "gauge":
        return GaugeMetricFamily(spec.name, spec.help, labels=labels)
    return HistogramMetricFamily(spec.name, spec.help, labels=labels)


def _cumulative(buckets: list[int]) -> list[tuple[str, float]]:
    out, running = [], 0
    for bound, count in zip((*HANDLER_BUCKETS, float("inf")), buckets, strict=True):
        running += count
        out.append(("+Inf" if bound == float("inf") else repr(bound), float(running)))
    return out


class RealtimeCollector:
    """The ``prometheus_client`` collector of one registry: the figures of every
    :class:`ServerMetrics` registered with it, read at each scrape."""

    def __init__(self) -> None:
        self.sources: list[ServerMetrics] = []

    def describe(self) -> Iterator[Metric]:
        """The metric families, without samples (the registry checks their names)."""
        for spec in METRICS:
            yield _family(spec)

    def collect(self) -> Iterator[Metric]:
        figures = Figures()
        for source in list(self.sources):
            source.add_figures(figures)
        yield from figures.families()


_collectors: dict[CollectorRegistry, RealtimeCollector] = {}


class ServerMetrics:
    """Counts what ``io`` does (from now on) for Prometheus; ``engine`` (the
    :class:`~jupyter_rt.engine.Engine` serving it, if any) adds its refusals and slow consumers.

    :meth:`register` adds the figures to a registry (Jupyter serves ``prometheus_client``'s
    default one at ``{base_url}metrics``); :meth:`close` takes them out and stops counting.
    """

    def __init__(self, io: Server, engine: Engine | None = None) -> None:
        self.io = io
        self.engine = engine
        self.counts = Counts(io)
        self._connected_seen: set[Labels] = set()
        self._registry: CollectorRegistry | None = None
        io.add_observer(self.counts)

    def __repr__(self) -> str:
        return f"<ServerMetrics {self.io!r} registered={self._registry is not None}>"

    def register(self, registry: CollectorRegistry | None = None) -> bool:
        """Serve the figures in ``registry`` (default: ``prometheus_client.REGISTRY``), next to
        the other servers' of this process; ``False`` (logged) if names there clash."""
        registry = REGISTRY if registry is None else registry
        if self._registry is registry:
            return True
        self.unregister()
        collector = _collectors.get(registry)
        if collector is None:
            collector = RealtimeCollector()
            try:
                registry.register(collector)
            except ValueError as exc:
                log.warning("The realtime metrics are not served: %s", exc)
                return False
            _collectors[registry] = collector
        collector.sources.append(self)
        self._registry = registry
        return True

    def unregister(self) -> None:
        """Take the figures out of their registry (the collector too, once it serves no
        server); nothing happens if they were not registered."""
        registry, self._registry = self._registry, None
        if registry is None:
            return
        collector = _collectors.get(registry)
        if collector is None:
            return
        if self in collector.sources:
            collector.sources.remove(self)
        if not collector.sources:
            del _collectors[registry]
            registry.unregister(collector)

    def close(self) -> None:
        """:meth:`unregister` and stop counting."""
        self.unregister()
        self.io.remove_observer(self.counts)

    def add_figures(self, figures: Figures) -> None:
        """Add this server's figures, as they are now, to ``figures``."""
        counts, add = self.counts, figures.add
        for transport, count in list(counts.handshakes.items()):
            add("jupyter_rt_handshakes", (transport,), count)
        add("jupyter_rt_received_bytes", (), counts.received_bytes)
        add("jupyter_rt_sent_bytes", (), counts.sent_bytes)
        engine = self.engine
        if engine is not None:
            for reason, count in list(engine.refusals.items()):
                add("jupyter_rt_refused_requests", (reason,), count)
            add("jupyter_rt_slow_consumers", (), engine.slow_consumers)
        for label, each in counts.namespaces().items():
            for reason, count in list(each.refused.items()):
                add("jupyter_rt_refused_connects", (label, reason), count)
            if not label:
                continue
            add("jupyter_rt_events_received", (label,), each.events_received)
            add("jupyter_rt_events_sent", (label,), each.events_sent)
            add("jupyter_rt_broadcasts", (label,), each.broadcasts)
            add("jupyter_rt_broadcast_deliveries", (label,), each.deliveries)
            add("jupyter_rt_ack_timeouts", (label,), each.ack_timeouts)
            if any(each.handler_buckets):
                figures.add_histogram((label,), each.handler_buckets, each.handler_seconds)
        self._add_connected(figures)
        adapter = self.io.sockets.adapter
        if isinstance(adapter, RedisHealth):
            figures.redis = True
            add("jupyter_rt_redis_up", (), 1 if adapter.redis_available else 0)
            add("jupyter_rt_redis_publish_errors", (), adapter.redis_publish_errors)

    def _add_connected(self, figures: Figures) -> None:
        connected: dict[Labels, int] = dict.fromkeys(self._connected_seen, 0)
        for nsp in self.io.namespaces.values():
            if not nsp.sockets:
                continue
            label = self.counts.label(nsp)
            for socket in list(nsp.sockets.values()):
                key: Labels = (label, socket.transport)
                connected[key] = connected.get(key, 0) + 1
        self._connected_seen.update(connected)  # a namespace emptied shows 0, not nothing
        for key, count in connected.items():
            figures.add("jupyter_rt_connected_sockets", key, count)
