"""The scaling plot is a PNG of the scale scenarios' medians, and only of those."""

from __future__ import annotations

from pathlib import Path

from bench.rt_bench.plot import scaling_series, write_plot
from bench.rt_bench.servers import Settings
from tests.helpers import unavailable


def test_the_plot_shows_the_medians_of_each_size(tmp_path: Path) -> None:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        unavailable("matplotlib not installed (in the test extras)")
    settings = Settings(scale_sizes=(10, 100))
    results = {
        server: {
            f"scale-fanout-{n}": {
                "runs": [{"deliveries_per_s": n * k, "latency": {"p99_ms": 2.0}} for k in (1, 2, 9)]
            }
            for n in settings.scale_sizes
        }
        for server in ("jupyter_rt", "node")
    }
    series = scaling_series(results, "node", settings)
    assert series["deliveries/s"] == [(10, 20.0), (100, 200.0)]
    assert "acks/s" not in series  # no echo ran: no line rather than zeros
    out = write_plot(results, ["jupyter_rt", "node"], settings, tmp_path / "plot.png")
    assert out is not None and out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert write_plot({"node": {}}, ["node"], settings, tmp_path / "none.png") is None
