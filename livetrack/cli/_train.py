"""``livetrack train``: train a CNN localizer from a TOML recipe."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def train_command(
    recipe: Annotated[Path, typer.Argument(help="Training recipe (TOML).")],
    out: Annotated[
        Path | None,
        typer.Option("--out", "-o", help="Model folder to write (default: runs/<name>)."),
    ] = None,
    resume: Annotated[
        bool, typer.Option("--resume", help="Continue from the checkpoint in the model folder.")
    ] = False,
    device: Annotated[
        str | None, typer.Option("--device", help="cpu, cuda, cuda:N (default: CUDA if present).")
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
    thresholds_only: Annotated[
        bool,
        typer.Option(
            "--recalibrate-thresholds",
            "--calibrate-only",
            help="Keep the trained weights; choose the detection threshold anew on the "
            "recipe's validation scenes (--calibrate-only: the former name).",
        ),
    ] = False,
) -> None:
    """Train a CNN localizer on simulated data and save it as a model folder."""
    from livetrack.train import load_recipe, recalibrate_thresholds, train

    config, text = load_recipe(recipe)
    folder = out if out is not None else Path("runs") / config.name
    if thresholds_only:
        spec = recalibrate_thresholds(config, folder)
        typer.echo(f"recalibrated {spec.folder}: threshold {spec.threshold:.2f}")
        _print_validation(spec.metadata["validation"])
        return
    result = train(
        config, folder, resume=resume, recipe_text=text, progress=not quiet, device=device
    )
    typer.echo(
        f"trained {config.name!r}: {result.steps} steps in {result.seconds / 60:.1f} min, "
        f"loss {result.first_loss:.3f} -> {result.last_loss:.3f}, "
        f"threshold {result.spec.threshold:.2f}"
    )
    _print_validation(result.validation)
    from livetrack.model import quantize_model

    typer.echo(f"int8 export {quantize_model(result.spec)}")
    typer.echo(f"saved to {result.spec.folder}")


def _print_validation(validation: dict) -> None:
    for label, m in validation.items():
        typer.echo(
            f"  {label:>14}: Jaccard {m['jaccard']:.3f}  RMSE {m['rmse_px']:.3f} px  "
            f"std(err/sigma) {m['z_std']:.2f}"
        )


def model_report_command(
    model: Annotated[str, typer.Argument(help="Model name (spots, rings) or folder.")] = "spots",
    quick: Annotated[bool, typer.Option("--quick", help="Smaller benchmark scenes.")] = False,
) -> None:
    """Score a trained model on the benchmark scenes; write report.md/.png/.csv beside it."""
    from livetrack.train import write_report

    typer.echo(f"wrote {write_report(model, quick=quick)}")


def quantize_command(
    model: Annotated[str, typer.Argument(help="Model name (spots, rings) or folder.")] = "spots",
    frames: Annotated[
        int, typer.Option(help="Simulated frames the activation ranges are measured on.")
    ] = 8,
) -> None:
    """Write the model's int8 ONNX export (model.int8.onnx), the fast CPU variant.

    Use it with --backend onnxruntime-int8; `livetrack bench speed` and `livetrack bench
    accuracy -m cnn:<model>:int8` measure what it gains and costs.
    """
    from livetrack.model import load_model, quantize_model

    typer.echo(f"wrote {quantize_model(load_model(model), n_frames=frames)}")


def register(app: typer.Typer) -> None:
    """Add the ``train``, ``quantize`` and ``model-report`` commands to the livetrack CLI."""
    app.command("train")(train_command)
    app.command("quantize")(quantize_command)
    app.command("model-report")(model_report_command)
