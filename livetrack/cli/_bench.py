"""``livetrack bench``: accuracy against ground truth and the CRLB, and speed."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

bench_app = typer.Typer(
    help="Benchmarks on seeded simulated data, side by side with the classical baselines.",
    no_args_is_help=True,
)


@bench_app.command("accuracy")
def accuracy(
    out: Annotated[
        Path | None,
        typer.Option("--out", "-o", help="Folder for accuracy.md, accuracy.csv and accuracy.png."),
    ] = None,
    quick: Annotated[
        bool, typer.Option("--quick", help="Smaller scenes and one frame each (a smoke run).")
    ] = False,
    method: Annotated[
        list[str] | None,
        typer.Option(
            "--method",
            "-m",
            help="Only these localizers (repeatable): centroid, radial, mle, or cnn:<model>.",
        ),
    ] = None,
    seed: Annotated[int, typer.Option(help="Base seed of the scene suite.")] = 2012,
) -> None:
    """Score every available localizer on the fixed scene suite.

    Prints a markdown table of Jaccard, RMSE (px), RMSE/CRLB and ms/frame; with
    --out also writes the table, the raw numbers and a plot of RMSE vs SNR with
    the CRLB curve.
    """
    from livetrack import bench
    from livetrack.bench._localizers import available_localizers

    localizers = available_localizers(method)
    scenes = bench.accuracy_suite(quick=quick)

    def progress(message: str) -> None:
        print(f"  … {message}", file=sys.stderr, flush=True)

    rows = bench.run_accuracy(scenes, localizers, seed=seed, progress=progress)
    table = bench.accuracy_markdown(rows)
    print(table)
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        (out / "accuracy.md").write_text(table)
        bench.accuracy_frame(rows).to_csv(out / "accuracy.csv", index=False)
        png = bench.plot_rmse_vs_snr(rows, out / "accuracy.png")
        print(f"wrote {out / 'accuracy.md'}, {out / 'accuracy.csv'} and {png}", file=sys.stderr)


def register(app: typer.Typer) -> None:
    """Add the ``bench`` command group to the ``livetrack`` CLI."""
    app.add_typer(bench_app, name="bench")
