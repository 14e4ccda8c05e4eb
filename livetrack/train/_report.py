"""Accuracy report of a trained model on the benchmark scenes (README table + PNG).

Run ``livetrack model-report spots`` to regenerate ``calibration/spots/report.md`` and
``report.png``. Scenes are those of ``livetrack bench accuracy`` (same seeds); truth is
restricted to particles that are visible and centred inside the frame.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from livetrack._extras import require
from livetrack.model import load_model


def _z_std(truth: pd.DataFrame, pred: pd.DataFrame, gate: float) -> float:
    from livetrack.evaluate import match

    z = []
    for f, t in truth.groupby("frame"):
        p = pred[pred["frame"] == f]
        if p.empty:
            continue
        ti, pi = match(t[["x", "y"]].to_numpy(), p[["x", "y"]].to_numpy(), gate_px=gate)
        for ax in ("x", "y"):
            err = p[ax].to_numpy()[pi] - t[ax].to_numpy()[ti]
            z.append(err / p[f"sigma_{ax}"].to_numpy()[pi])
    zz = np.concatenate(z) if z else np.empty(0)
    return float(np.std(zz)) if zz.size > 2 else float("nan")


def evaluate_model(
    model: str | os.PathLike[str] = "spots",
    backend: str = "onnxruntime",
    quick: bool = False,
    seed: int = 2012,
    gate_px: float = 2.0,
    compare_classical: bool = True,
) -> pd.DataFrame:
    """Score a model on the benchmark scenes of its kind.

    Parameters
    ----------
    model : str or path-like
        Model name or folder.
    backend : str
        Inference backend.
    quick : bool
        The quick (smaller) benchmark suite.
    seed : int
        Base seed (scene ``i`` uses ``seed + i``, as ``livetrack bench accuracy``).
    gate_px : float
        Matching gate.
    compare_classical : bool
        Also score the classical localizers (centroid, radial symmetry, Gaussian MLE) on the
        isolated-spot and ring scenes, with the feature size of ``livetrack bench``.

    Returns
    -------
    pandas.DataFrame
        One row per (scene, localizer): jaccard, rmse_px, crlb_px, rmse_over_crlb, z_std.
    """
    from livetrack.bench import accuracy_suite, scene_crlb_px
    from livetrack.evaluate import score
    from livetrack.infer import CNNLocalizer

    spec = load_model(model)
    cnns = {f"cnn:{spec.name}": CNNLocalizer(spec, backend=backend)}
    if cnns[f"cnn:{spec.name}"].refine:
        cnns[f"cnn:{spec.name} (fast)"] = CNNLocalizer(spec, backend=backend, refine=False)
    rings = spec.metadata.get("psf", "") == "ring" or spec.name == "rings"
    rows = []
    for index, scene in enumerate(accuracy_suite(quick)):
        if (scene.group == "rings") != rings:
            continue
        movie = scene.simulate(seed + index)
        truth = movie.truth[movie.truth["visible"] & movie.truth["in_frame"]]
        crlb = scene_crlb_px(scene, truth, movie.camera)
        methods: dict[str, Any] = dict(cnns)
        if compare_classical and scene.group in ("isolated", "rings"):
            from livetrack.localize import make_localizer

            rings_scene = scene.group == "rings"
            polarity = "abs" if rings_scene else "bright"
            # The Gaussian MLE fits bright spots only; rings get centroid and radial symmetry.
            for method in ("centroid", "radial") if rings_scene else ("centroid", "radial", "mle"):
                methods[method] = make_localizer(
                    method,
                    diameter_px=scene.feature_diameter_px,
                    camera=movie.camera,
                    polarity=polarity,
                )
        for name, classical in methods.items():
            t0 = time.perf_counter()
            cnn = name.startswith("cnn:")
            if cnn:
                pred = classical.locate_stack(movie.frames)
            else:
                pred = pd.concat(
                    [classical.locate(f, i) for i, f in enumerate(movie.frames)],
                    ignore_index=True,
                )
            seconds = time.perf_counter() - t0
            s = score(truth, pred, gate_px=gate_px)
            rows.append(
                {
                    "scene": scene.name,
                    "group": scene.group,
                    "snr": scene.snr,
                    "localizer": name,
                    "jaccard": s.jaccard,
                    "rmse_px": s.rmse,
                    "crlb_px": crlb,
                    "rmse_over_crlb": s.rmse / crlb if crlb > 0 else float("nan"),
                    "z_std": _z_std(truth, pred, gate_px) if cnn else float("nan"),
                    "ms_per_frame": 1e3 * seconds / len(movie.frames),
                }
            )
    return pd.DataFrame(rows)


def markdown_table(df: pd.DataFrame) -> str:
    """Render the report rows as a markdown table."""
    cols = ["scene", "localizer", "jaccard", "rmse_px", "crlb_px", "rmse_over_crlb", "z_std"]
    head = "| " + " | ".join(cols) + " |\n|" + "---|" * len(cols) + "\n"
    lines = []
    for _, r in df.iterrows():
        cells = [str(r["scene"]), str(r["localizer"])]
        cells += [f"{r[c]:.3f}" if np.isfinite(r[c]) else "–" for c in cols[2:]]
        lines.append("| " + " | ".join(cells) + " |")
    return head + "\n".join(lines) + "\n"


def plot_report(df: pd.DataFrame, path: str | os.PathLike[str]) -> None:
    """RMSE vs SNR on isolated spots: CNN, classical localizers and the CRLB (log-log PNG)."""
    matplotlib = require("matplotlib", "the model report's plot", "train")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    iso = df[df["group"] == "isolated"]
    fig, ax = plt.subplots(figsize=(5, 4))
    if not iso.empty:
        for name, g in iso.groupby("localizer"):
            ax.plot(g["snr"], g["rmse_px"], "o-", label=name)
        crlb = iso.drop_duplicates("scene")
        ax.plot(crlb["snr"], crlb["crlb_px"], "k--", label="CRLB")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("SNR (ISBI)")
        ax.set_ylabel("RMSE (px, 2-D)")
        ax.set_title("isolated spots (sigma 1.3 px)")
        ax.legend()
    else:  # ring models: RMSE per scene and localizer
        table = df.pivot_table(index="scene", columns="localizer", values="rmse_px")
        table.plot.bar(ax=ax, rot=0)
        ax.set_ylabel("RMSE (px, 2-D)")
        ax.set_xlabel("")
        ax.set_title("rings, SNR 10")
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def write_report(model: str = "spots", quick: bool = False) -> Path:
    """Evaluate ``model`` and write ``report.md`` (and ``report.png``) into its folder."""
    spec = load_model(model)
    df = evaluate_model(model, quick=quick)
    folder = spec.folder
    assert folder is not None  # loaded models always have one
    (folder / "report.csv").write_text(df.to_csv(index=False), encoding="utf-8")
    plot_report(df, folder / "report.png")
    text = (
        f"# Accuracy of `{spec.name}`\n\n"
        f"Scenes of `livetrack bench accuracy{' --quick' if quick else ''}` (seed 2012), truth = "
        "visible particles centred in the frame, 2 px gate. RMSE is 2-D; `z_std` is the "
        "standard deviation of error / predicted sigma (calibrated = 1).\n\n"
        f"Regenerate: `livetrack model-report {model}{' --quick' if quick else ''}`\n\n"
        + markdown_table(df)
    )
    (folder / "report.md").write_text(text, encoding="utf-8")
    return folder / "report.md"
