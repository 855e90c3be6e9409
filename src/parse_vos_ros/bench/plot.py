"""The PNG of FPS and RSS over the long stream, written next to the JSON."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from parse_vos_ros.atomic import atomic_path


def plot_long_stream(series: Mapping[str, Sequence[float]], path: Path, title: str) -> Path:
    """Two stacked panels over frame index: FPS per sample block, and RSS in MB."""
    import matplotlib

    matplotlib.use("Agg")  # no display on robots or CI
    import matplotlib.pyplot as plt

    fig, (ax_fps, ax_rss) = plt.subplots(2, 1, figsize=(9, 5.5), sharex=True)
    ax_fps.plot(series["frame"], series["fps"], lw=0.8, color="tab:blue")
    ax_fps.set_ylabel("FPS (per block)")
    ax_fps.grid(alpha=0.3)
    ax_rss.plot(series["frame"], series["rss_mb"], lw=1.0, color="tab:red")
    # From zero: an auto-scaled axis would blow a 0.1 % wobble up to the full panel height.
    ax_rss.set_ylim(0, 1.1 * max(series["rss_mb"], default=1.0))
    ax_rss.set_ylabel("RSS (MB)")
    ax_rss.set_xlabel("frame")
    ax_rss.grid(alpha=0.3)
    fig.suptitle(title)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)
    return path
