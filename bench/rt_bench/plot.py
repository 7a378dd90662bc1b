"""The scaling plot: deliveries/s and p99 against the number of clients (PNG, matplotlib)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .report import figure
from .servers import Settings

COLORS = {"jupyter_rt": "tab:orange", "node": "tab:green", "standalone": "tab:blue"}


def scaling_series(
    results: dict[str, dict[str, Any]], server: str, settings: Settings
) -> dict[str, list[tuple[int, float]]]:
    """(clients, median) points of the scaling scenarios that ran for ``server``."""
    series: dict[str, list[tuple[int, float]]] = {}
    for name, scenario, path in (
        ("deliveries/s", "fanout", ("deliveries_per_s",)),
        ("fanout p99 ms", "fanout", ("latency", "p99_ms")),
        ("acks/s", "echo", ("acks_per_s",)),
        ("echo p99 ms", "echo", ("latency", "p99_ms")),
    ):
        points = []
        for n in settings.scale_sizes:
            value = figure(results, server, f"scale-{scenario}-{n}", path)
            if value is not None:
                points.append((n, value))
        if points:
            series[name] = points
    return series


def write_plot(
    results: dict[str, dict[str, Any]], servers: list[str], settings: Settings, out: Path
) -> Path | None:
    """Writes the plot to ``out``; ``None`` when no scaling scenario ran or matplotlib is
    missing (``pip install matplotlib``)."""
    data = {s: scaling_series(results, s, settings) for s in servers}
    data = {s: d for s, d in data.items() if d}
    if not data:
        return None
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        import matplotlib.ticker
    except ImportError:
        return None
    panels = ("deliveries/s", "fanout p99 ms", "acks/s", "echo p99 ms")
    fig, axes = plt.subplots(2, 2, figsize=(10, 7))
    for ax, panel in zip(axes.flat, panels, strict=True):
        for server, series in data.items():
            points = series.get(panel)
            if points:
                xs, ys = zip(*points, strict=True)
                ax.plot(xs, ys, marker="o", label=server, color=COLORS.get(server))
        kind = (
            "fanout (1 room, all clients)" if "deliveries" in panel or "fanout" in panel else "echo"
        )
        ax.set_title(f"{kind}: {panel.split(' ', 1)[-1] if 'p99' in panel else panel}")
        ax.set_xscale("log")
        ax.set_xticks(list(settings.scale_sizes), [str(n) for n in settings.scale_sizes])
        ax.xaxis.set_minor_locator(matplotlib.ticker.NullLocator())
        if "p99" in panel:
            ax.set_yscale("log")
            ax.yaxis.set_major_formatter(matplotlib.ticker.ScalarFormatter())
        else:
            ax.set_ylim(bottom=0)
        ax.set_xlabel("clients")
        ax.grid(True, which="both", alpha=0.3)
        if ax.lines:
            ax.legend()
    fig.suptitle("jupyter_rt (inside jupyter server) vs Node socket.io: cost vs clients")
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=90)
    plt.close(fig)
    return out
