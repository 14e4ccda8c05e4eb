"""``livetrack models``: the models a name can resolve to, and where each comes from."""

from __future__ import annotations

from typing import Annotated

import typer

models_app = typer.Typer(
    help="List the CNN models available by name and where each comes from.",
    invoke_without_command=True,
    no_args_is_help=False,
)


@models_app.callback()
def models(ctx: typer.Context) -> None:
    """List the CNN models available by name, in search order, and where each comes from.

    A name resolves to the first folder of that name in LIVETRACK_MODEL_PATH (folders
    separated by the platform's path separator), then the user-data folder, then the models
    shipped with livetrack. Put a model folder in one of them to use it by name.
    """
    if ctx.invoked_subcommand is None:
        list_models()


@models_app.command("list")
def list_models() -> None:
    """List the CNN models available by name, in search order, and where each comes from."""
    from livetrack.model import find_models, model_dirs

    typer.echo("search path (the first folder of a name wins):")
    for d in model_dirs():
        note = "" if d.path.is_dir() else "  (no such folder)"
        typer.echo(f"  {d.source:<21} {d.path}{note}")
    entries = find_models()
    if not entries:
        typer.echo("no models found")
        return
    width = max(len(e.name) for e in entries)
    typer.echo("models:")
    # By name, each name's folders in search order: a hidden one sits under the one used.
    order = {id(e): i for i, e in enumerate(entries)}
    for e in sorted(entries, key=lambda e: (e.name, order[id(e)])):
        note = "  (hidden by the one above)" if e.shadowed else ""
        typer.echo(f"  {e.name:<{width}}  {e.source:<21} {e.folder}{note}")


@models_app.command("rates")
def rates(
    model: Annotated[str, typer.Argument(help="Model name or folder.")],
    backend: Annotated[
        list[str] | None,
        typer.Option(
            "--backend",
            "-b",
            help="Backend to measure (repeatable); default onnxruntime and, where the "
            "folder has the int8 export, onnxruntime-int8.",
        ),
    ] = None,
) -> None:
    """Measure the adaptive threshold's rates of a model and store them in its folder.

    Training and recalibration store them already; run this for a model made otherwise,
    after `livetrack quantize`, or when a newer livetrack says its rates are stale.
    """
    from livetrack.train import write_rates

    path = write_rates(model, tuple(backend) if backend else None)
    typer.echo(f"wrote {path}")


def register(app: typer.Typer) -> None:
    """Add the ``models`` command group to the ``livetrack`` CLI."""
    app.add_typer(models_app, name="models")
