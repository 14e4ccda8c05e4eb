"""``livetrack calibrate camera|psf|stage|model`` and ``livetrack calibrations``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

calibrate_app = typer.Typer(
    help="Measure the camera, the particles' image and the stage, and fit a model to them.",
    no_args_is_help=True,
)

OutOpt = Annotated[
    Path | None,
    typer.Option(
        "--output",
        "-o",
        help="File to write (default: <kind>.json in the user's calibration folder).",
    ),
]


def _out(path: Path | None, kind: str) -> Path:
    from livetrack.calibrate import user_calibrations_dir

    return path if path is not None else user_calibrations_dir() / f"{kind}.json"


@calibrate_app.command("camera")
def camera_command(
    stacks: Annotated[
        list[Path],
        typer.Argument(
            help="TIFF stacks, each at one constant light level, one of them dark frames "
            "(or dark frames and one movie of a static, unevenly lit scene)."
        ),
    ],
    output: OutOpt = None,
    dark: Annotated[
        int | None,
        typer.Option(help="Index of the dark stack among STACKS (default: the darkest)."),
    ] = None,
    emccd: Annotated[
        bool, typer.Option("--emccd", help="An EMCCD: its register doubles the shot noise.")
    ] = False,
    per_pixel: Annotated[
        bool | None,
        typer.Option(
            "--per-pixel/--global",
            help="Per-pixel maps (sCMOS) or one value per camera (default: maps where the "
            "pixels' gains differ measurably).",
        ),
    ] = None,
) -> None:
    """Measure offset, gain and read noise by photon transfer (mean-variance)."""
    from livetrack.calibrate import calibrate_camera

    cal = calibrate_camera(stacks, dark=dark, em=emccd, per_pixel=per_pixel)
    path = cal.save(_out(output, "camera"))
    maps = " (per-pixel maps beside it)" if cal.per_pixel else ""
    typer.echo(
        f"gain {cal.gain_adu_per_photon:.4g} ADU/photon, offset {cal.offset_adu:.2f} ADU, "
        f"read noise {cal.read_noise_adu:.3g} ADU ({cal.read_noise_e:.3g} photons); "
        f"{len(cal.levels)} photon-transfer levels"
    )
    typer.echo(f"wrote {path}{maps}")


@calibrate_app.command("psf")
def psf_command(
    movie: Annotated[str, typer.Argument(help="Movie: TIFF stack, video, folder of images.")],
    output: OutOpt = None,
    camera: Annotated[
        str | None,
        typer.Option(help="Camera calibration (intensities and SNR in photons)."),
    ] = None,
    min_particles: Annotated[int, typer.Option(help="Fewest particle images to measure.")] = 10,
) -> None:
    """Measure the particles' image: size, shape, polarity, SNR, background."""
    from livetrack.calibrate import calibrate_psf, load_camera

    cam = load_camera(camera) if camera is not None else None
    cal = calibrate_psf(movie, camera=cam, min_particles=min_particles)
    path = cal.save(_out(output, "psf"))
    typer.echo(cal.describe())
    typer.echo(f"wrote {path}")


@calibrate_app.command("stage")
def stage_command(
    output: OutOpt = None,
    pixel_size: Annotated[
        float, typer.Option(help="Simulated microscope: true pixel size (um), hidden.")
    ] = 0.1,
    rotation: Annotated[
        float, typer.Option(help="Simulated microscope: true camera rotation (deg), hidden.")
    ] = 0.0,
    flip: Annotated[
        bool, typer.Option("--flip", help="Simulated microscope: camera x axis mirrored.")
    ] = False,
    step: Annotated[
        float | None, typer.Option(help="Largest stage move (um; default 20 % of the field).")
    ] = None,
) -> None:
    """Measure the stage <-> camera map by moving the XY stage of the simulated microscope.

    For a real microscope use livetrack.calibrate.calibrate_stage_transform(core) in a
    script with your Micro-Manager core.
    """
    from livetrack.acquire import simulated_core
    from livetrack.calibrate import calibrate_stage_transform

    core = simulated_core(
        shape=(256, 256),
        pixel_size_um=pixel_size,
        rotation_deg=rotation,
        flip_x=flip,
        nominal_pixel_size_um=0.1,
        realtime=False,
    )
    cal = calibrate_stage_transform(core, step_um=step, source="simulated microscope")
    path = cal.save(_out(output, "stage"))
    typer.echo(
        f"pixel size {cal.pixel_size_um:.5g} um, rotation {cal.rotation_deg:.3f} deg, "
        f"{'flipped' if cal.flipped else 'not flipped'}; residual {cal.residual_px:.3f} px "
        f"over {cal.n_moves} moves ({cal.n_dropped} dropped)"
    )
    typer.echo(f"wrote {path}")


@calibrate_app.command("model")
def model_command(
    camera: Annotated[str, typer.Option(help="Camera calibration (calibrate camera).")],
    psf: Annotated[str, typer.Option(help="Particle-image calibration (calibrate psf).")],
    output: Annotated[
        str,
        typer.Option(
            "--output",
            "-o",
            help="Model folder; a bare name goes to the user's model folder (usable by name).",
        ),
    ],
    base: Annotated[
        str | None, typer.Option(help="Model to fine-tune (default: the closest shipped one).")
    ] = None,
    steps: Annotated[int, typer.Option(help="Optimizer steps.")] = 6000,
    minutes: Annotated[
        float, typer.Option(help="Anneal and stop within this many minutes of training.")
    ] = 20.0,
    threads: Annotated[int, typer.Option(help="torch CPU threads.")] = 2,
    resume: Annotated[
        bool, typer.Option("--resume", help="Continue an interrupted run from its checkpoint.")
    ] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
) -> None:
    """Fine-tune the closest shipped model to the measured camera and particles."""
    from livetrack.calibrate import calibrate_model, load_camera, load_psf

    cam, particles = load_camera(camera), load_psf(psf)
    result = calibrate_model(
        cam,
        particles,
        output,
        base_model=base,
        steps=steps,
        time_budget_min=minutes,
        threads=threads,
        resume=resume,
        progress=not quiet,
        inputs=(camera, psf),
    )
    typer.echo(
        f"fine-tuned {result.base_model} for {result.steps} steps "
        f"({result.seconds / 60:.1f} min); on the measured conditions:"
    )
    for row in result.report.itertuples():
        typer.echo(f"  {row.localizer:>22}: Jaccard {row.jaccard:.3f}  RMSE {row.rmse_px:.3f} px")
    typer.echo(f"wrote {result.folder} (use it as --model {result.folder.name})")


def calibrations_command(
    folders: Annotated[list[Path] | None, typer.Argument(help="More folders to look in.")] = None,
) -> None:
    """List the calibrations: the user's folder, FOLDERS, and calibrated models."""
    from livetrack.calibrate import find_calibrations, user_calibrations_dir

    typer.echo(f"user calibrations: {user_calibrations_dir()}")
    entries = find_calibrations(folders or [])
    if not entries:
        typer.echo("no calibrations found")
        return
    for e in entries:
        h = e.header
        size = f"{h.frame_shape[1]}x{h.frame_shape[0]}" if h.frame_shape else "-"
        typer.echo(
            f"  {h.kind:<6} {h.created[:19]:<19} {size:>9} {h.pixel_type or '-':<7} "
            f"{e.path}  {e.summary}"
        )


def register(app: typer.Typer) -> None:
    """Add the ``calibrate`` group and the ``calibrations`` command to the livetrack CLI."""
    app.add_typer(calibrate_app, name="calibrate")
    app.command("calibrations")(calibrations_command)
