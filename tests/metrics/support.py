"""What the metrics tests share: the realtime app's config, a room name, a scrape of
``/metrics`` read into samples."""

from __future__ import annotations

from collections.abc import Mapping

from prometheus_client.parser import text_string_to_metric_families

from tests.jupyter.support import Jupyter

APP = {"apps": ["tests.metrics.metrics_app:setup"]}
ROOM = "room-of-secret-plans"

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


class Scrape:
    """One scrape of ``/metrics``: its text, and its samples by name and labels."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.samples: Samples = {}
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                key = (sample.name, frozenset(sample.labels.items()))
                self.samples[key] = sample.value

    def value(self, name: str, **labels: str) -> float | None:
        return self.samples.get((name, frozenset(labels.items())))

    def names(self) -> set[str]:
        return {name for name, _ in self.samples}


async def scrape(jupyter: Jupyter, headers: Mapping[str, str] | None = None) -> Scrape:
    response = await jupyter.fetch(jupyter.url("metrics"), headers=headers)
    assert response.code == 200, response.code
    return Scrape(response.body.decode())
