"""Markdown tables and plots of benchmark results."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from livetrack._extras import require
from livetrack.bench._accuracy import AccuracyRow

__all__ = ["accuracy_frame", "accuracy_markdown", "plot_rmse_vs_snr"]


def accuracy_frame(rows: Sequence[AccuracyRow]) -> pd.DataFrame:
    """Collect benchmark rows into a DataFrame (one row per scene and localizer)."""
    records = [
        {
            "scene": r.scene,
            "group": r.group,
            "snr": r.snr,
            "localizer": r.localizer,
            "jaccard": r.jaccard,
            "precision": r.precision,
            "recall": r.recall,
            "rmse_px": r.rmse_px,
            "crlb_px": r.crlb_px,
            "rmse_over_crlb": r.rmse_over_crlb,
            "ms_per_frame": r.ms_per_frame,
            "jaccard_oracle": r.jaccard_oracle,
        }
        for r in rows
    ]
    return pd.DataFrame.from_records(records)


def _fmt(value: float, digits: int) -> str:
    return "–" if value is None or not math.isfinite(value) else f"{value:.{digits}f}"


def accuracy_markdown(rows: Sequence[AccuracyRow]) -> str:
    """Render the accuracy benchmark as three markdown tables, one column per localizer.

    1. Jaccard index, beside that of the known-PSF likelihood-ratio oracle (the detection
       counterpart of the CRLB; ``livetrack.evaluate.oracle_jaccard``).
    2. RMSE in pixels as ``RMSE (RMSE/CRLB)``, beside the CRLB.
    3. Milliseconds per frame.
    """
    table = accuracy_frame(rows)
    names = list(dict.fromkeys(table["localizer"]))
    scenes = list(table.groupby("scene", sort=False))

    def render(title: str, extra: str, extra_cell, cell) -> list[str]:
        header = ["scene", extra, *names] if extra else ["scene", *names]
        lines = [f"**{title}**", "", "| " + " | ".join(header) + " |"]
        lines.append("|" + "---|" * len(header))
        for scene, group in scenes:
            by_name = group.set_index("localizer")
            cells = [scene] + ([extra_cell(group.iloc[0])] if extra else [])
            cells += [cell(by_name.loc[name]) for name in names]
            lines.append("| " + " | ".join(cells) + " |")
        return [*lines, ""]

    def rmse(r: pd.Series) -> str:
        ratio = r["rmse_over_crlb"]
        text = _fmt(r["rmse_px"], 3)
        return text if not math.isfinite(ratio) else f"{text} ({ratio:.2f})"

    lines = render(
        "Jaccard index (2 px gate)",
        "oracle",
        lambda r: _fmt(r["jaccard_oracle"], 3),
        lambda r: _fmt(r["jaccard"], 3),
    )
    lines += render("RMSE, px (RMSE / CRLB)", "CRLB", lambda r: _fmt(r["crlb_px"], 3), rmse)
    lines += render("ms per frame", "", None, lambda r: _fmt(r["ms_per_frame"], 1))
    return "\n".join(lines)


def plot_rmse_vs_snr(rows: Sequence[AccuracyRow], path: str | Path) -> Path:
    """Plot RMSE against SNR on the isolated-spot scenes with the CRLB curve.

    Parameters
    ----------
    rows
        Benchmark rows; only the ``isolated`` group is plotted.
    path
        Where to write the PNG.

    Returns
    -------
    pathlib.Path
        The file written.
    """
    matplotlib = require("matplotlib", "the benchmark plots")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    table = accuracy_frame(rows)
    iso = table[table["group"] == "isolated"].sort_values("snr")
    fig, ax = plt.subplots(figsize=(6, 4.2), dpi=120)
    crlb = iso.drop_duplicates("snr")
    ax.plot(crlb["snr"], crlb["crlb_px"], "k--", lw=2, label="CRLB")
    # Where most detections are missed, the few pairs inside the matching gate are
    # largely chance and their RMSE says little; those points are drawn hollow.
    for name, group in iso.groupby("localizer", sort=False):
        (line,) = ax.plot(group["snr"], group["rmse_px"], "-", label=name)
        reliable = group["jaccard"] >= 0.5
        ax.plot(group["snr"][reliable], group["rmse_px"][reliable], "o", color=line.get_color())
        ax.plot(
            group["snr"][~reliable],
            group["rmse_px"][~reliable],
            "o",
            mfc="none",
            color=line.get_color(),
        )
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("SNR  (I_peak − I_bg) / √I_peak")
    ax.set_ylabel("RMSE (px)")
    ax.set_title("Isolated spots: error vs SNR (hollow: Jaccard < 0.5)", fontsize=10)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path
