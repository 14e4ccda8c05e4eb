import numpy as np
import pandas as pd
import pytest

from livetrack._errors import InputError
from livetrack.localize import (
    METHODS,
    CentroidLocalizer,
    CentroidOptions,
    GaussianMLELocalizer,
    GaussianMLEOptions,
    Localizer,
    RadialSymmetryLocalizer,
    TruthLocalizer,
    locate,
    make_localizer,
)

BASE = ["frame", "x", "y", "mass"]


def test_methods_map_names_to_classes():
    assert {
        "centroid": CentroidLocalizer,
        "radial": RadialSymmetryLocalizer,
        "mle": GaussianMLELocalizer,
    } == METHODS
    for cls in METHODS.values():
        assert isinstance(cls(), Localizer)


@pytest.mark.parametrize("method", sorted(METHODS))
def test_stack_gives_frame_column_and_common_columns(method, render, rng):
    frames = np.stack(
        [
            rng.poisson(render((40, 50), [10.2 + t, 30.7], [20.4, 8.9], 800.0, 1.2, 10.0))
            for t in range(3)
        ]
    ).astype(np.uint16)
    df = locate(frames, method=method)
    assert list(df.columns[:4]) == BASE
    assert df["frame"].dtype == np.int64
    assert df.groupby("frame").size().tolist() == [2, 2, 2]
    first = df[df.frame == 2].sort_values("x")
    np.testing.assert_allclose(first[["x", "y"]].to_numpy(), [[12.2, 20.4], [30.7, 8.9]], atol=0.3)


@pytest.mark.parametrize("method", sorted(METHODS))
def test_blank_frame_gives_empty_table_with_columns(method):
    df = locate(np.full((32, 32), 7.0), method=method)
    assert len(df) == 0
    assert list(df.columns) == ["frame", *METHODS[method].columns]


def test_single_frame_is_frame_zero_and_localizer_frame_argument(render):
    img = render((32, 32), [15.3], [12.6], 1000.0, 1.0, 5.0)
    assert locate(img, method="radial")["frame"].tolist() == [0]
    assert RadialSymmetryLocalizer().locate(img, frame=7)["frame"].tolist() == [7]


def test_mle_columns_include_uncertainty(render):
    img = render((32, 32), [15.3], [12.6], 1000.0, 1.3, 5.0)
    df = GaussianMLELocalizer().locate(img)
    assert {"sigma_x", "sigma_y", "bg", "sigma", "signal"} <= set(df.columns)
    row = df.iloc[0]
    assert row.mass == pytest.approx(1000.0, rel=1e-3)
    assert row.bg == pytest.approx(5.0, rel=1e-3)
    assert row.sigma == pytest.approx(1.3, rel=1e-3)
    assert 0 < row.sigma_x < 0.1


@pytest.mark.parametrize(
    ("image", "message"),
    [
        (np.zeros(10), "2-D or 3-D"),
        (np.zeros((2, 2, 2, 2)), "2-D or 3-D"),
        (np.array([["a", "b"], ["c", "d"]]), "dtype"),
        (np.zeros((4, 4), dtype=bool), "dtype"),
        (np.zeros((4, 4), dtype=complex), "dtype"),
        (np.zeros((0, 5)), "empty"),
        (np.array([[1.0, np.nan], [0.0, 0.0]]), "NaN"),
        (np.array([[1.0, np.inf], [0.0, 0.0]]), "NaN"),
    ],
)
def test_bad_images_raise_input_error(image, message):
    with pytest.raises(InputError, match=message):
        locate(image)


def test_localizer_wants_a_single_frame():
    with pytest.raises(InputError, match="2-D"):
        CentroidLocalizer().locate(np.zeros((2, 8, 8)))


def test_bad_method_and_options_raise_input_error():
    with pytest.raises(InputError, match="unknown method"):
        locate(np.zeros((8, 8)), method="nope")
    with pytest.raises(InputError, match="unknown option"):
        locate(np.zeros((8, 8)), method="centroid", sigma_px=1.0)
    with pytest.raises(InputError, match="odd"):
        CentroidOptions(diameter_px=6)
    with pytest.raises(InputError, match="polarity"):
        CentroidOptions(polarity="up")
    with pytest.raises(InputError, match="bright spots"):
        GaussianMLEOptions(polarity="dark")
    with pytest.raises(InputError, match="sigma_px"):
        GaussianMLEOptions(sigma_px=0.0)
    with pytest.raises(InputError, match="to_photons"):
        CentroidOptions(camera=object())


def test_options_are_frozen():
    opts = CentroidOptions()
    with pytest.raises(AttributeError):
        opts.diameter_px = 9  # type: ignore[misc]


def test_make_localizer_passes_options():
    loc = make_localizer("mle", diameter_px=9, sigma_px=2.0)
    assert isinstance(loc, GaussianMLELocalizer)
    assert loc.options.diameter_px == 9
    assert loc.options.sigma_px == 2.0


def test_truth_localizer_replays_visible_particles_of_frame():
    truth = pd.DataFrame(
        {
            "frame": [0, 0, 1, 1, 1],
            "particle": [0, 1, 0, 1, 2],
            "x": [1.0, 2.0, 3.0, 4.0, 5.0],
            "y": [6.0, 7.0, 8.0, 9.0, 10.0],
            "amplitude": [10.0, 20.0, 30.0, 40.0, 50.0],
            "visible": [True, True, True, False, True],
        }
    )
    loc = TruthLocalizer(truth)
    assert isinstance(loc, Localizer)
    df = loc.locate(np.zeros((16, 16)), frame=1)
    assert list(df.columns) == BASE
    assert df[["x", "y", "mass"]].to_numpy().tolist() == [[3.0, 8.0, 30.0], [5.0, 10.0, 50.0]]
    assert df["frame"].tolist() == [1, 1]
    assert len(loc.locate(np.zeros((16, 16)), frame=5)) == 0
    with pytest.raises(InputError, match="lacks columns"):
        TruthLocalizer(truth.drop(columns="x"))
