"""Each meaning of "calibration" has its own name; the former names still work."""


def test_threshold_recalibration_and_int8_reference_batches_have_their_own_names():
    import livetrack.train
    from livetrack.model import _quantize
    from livetrack.train import _validate

    assert livetrack.train.calibrate is livetrack.train.recalibrate_thresholds
    assert "recalibrate_thresholds" in livetrack.train.__all__
    assert _validate.calibrate_threshold is _validate.choose_threshold
    assert _quantize.calibration_batches is _quantize.int8_reference_batches


def test_the_former_cli_flag_still_recalibrates_thresholds():
    from typer.testing import CliRunner

    from livetrack.cli import app

    for flag in ("--recalibrate-thresholds", "--calibrate-only"):
        result = CliRunner().invoke(app, ["train", "missing.toml", flag])
        assert result.exit_code == 1
        assert "cannot read recipe missing.toml" in str(result.exception)
