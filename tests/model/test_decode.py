import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from livetrack.model import COLUMNS, decode_maps, find_peaks
from livetrack.model._decode import LOG_SIGMA_FLOOR, floor_log_sigma, window_sums

LOW = -20.0


def raw_log_sigma(sigma):
    """The raw map value that decodes to ``sigma`` after the soft floor."""
    return LOG_SIGMA_FLOOR + np.log(np.expm1(np.log(sigma) - LOG_SIGMA_FLOOR))


def blank_maps(h, w):
    maps = np.zeros((5, h, w), np.float32)
    maps[0] = LOW
    maps[3:] = np.log(0.1)
    return maps


def test_exact_positions_from_hand_made_maps():
    maps = blank_maps(10, 12)
    maps[0, 2, 3] = 5.0
    maps[1, 2, 3], maps[2, 2, 3] = 0.25, -0.75
    maps[3, 2, 3], maps[4, 2, 3] = raw_log_sigma(0.2), raw_log_sigma(0.3)
    maps[0, 7, 9] = 3.0
    maps[1, 7, 9], maps[2, 7, 9] = -1.0, 0.5
    df = decode_maps(maps, 0.5, 2, (20, 24), frame=4)
    assert list(df.columns) == list(COLUMNS)
    assert len(df) == 2
    first = df.iloc[0]
    assert first["x"] == pytest.approx(3 * 2 + 0.5 + 0.25)
    assert first["y"] == pytest.approx(2 * 2 + 0.5 - 0.75)
    assert first["sigma_x"] == pytest.approx(0.2, rel=1e-6)
    assert first["sigma_y"] == pytest.approx(0.3, rel=1e-6)
    second = df.iloc[1]
    assert (second["x"], second["y"]) == pytest.approx((9 * 2 + 0.5 - 1.0, 7 * 2 + 0.5 + 0.5))
    assert (df["frame"] == 4).all()
    assert df["mass"].isna().all()


def test_log_sigma_floor_is_soft_and_bounded():
    raw = np.array([-50.0, -6.0, -2.0, 3.0])
    floored = floor_log_sigma(raw)
    assert floored[0] == pytest.approx(LOG_SIGMA_FLOOR, abs=1e-12)
    assert np.all(np.diff(floored) > 0)
    assert np.all(floored > raw)
    assert floored[-1] == pytest.approx(3.0, abs=1e-3)


def test_non_maximum_suppression_keeps_the_higher_neighbour():
    maps = blank_maps(6, 6)
    maps[0, 2, 2], maps[0, 2, 3] = 4.0, 5.0
    rows, cols = find_peaks(maps[0])
    assert list(zip(rows, cols, strict=True)) == [(2, 3)]


def test_plateau_gives_one_peak():
    maps = blank_maps(6, 6)
    maps[0, 3, 2] = maps[0, 3, 3] = 2.0
    rows, _ = find_peaks(maps[0])
    assert len(rows) == 1


def test_probability_split_over_two_cells_is_one_confident_detection():
    maps = blank_maps(6, 6)
    maps[0, 2, 2], maps[0, 2, 3] = 0.0, -0.01  # p = 0.5 and ~0.5
    maps[1, 2, 2], maps[1, 2, 3] = 0.95, -1.0  # both point at x ~ 5.5
    df = decode_maps(maps, 0.9, 2, (12, 12))
    assert len(df) == 1
    assert df["prob"].iloc[0] == pytest.approx(1.0, abs=0.01)


def test_scattered_background_probability_does_not_add_up():
    maps = blank_maps(6, 6)
    maps[0, 1:4, 1:4] = -1.5  # p ~ 0.18 in nine cells pointing at their own centres
    maps[0, 2, 2] = -1.4
    df = decode_maps(maps, 0.3, 2, (12, 12))
    assert len(df) == 0


def test_threshold_and_empty_output():
    maps = blank_maps(5, 5)
    maps[0, 1, 1] = -1.0  # p ~ 0.27
    assert len(decode_maps(maps, 0.5, 2, (10, 10))) == 0
    assert len(decode_maps(maps, 0.2, 2, (10, 10))) == 1
    empty = decode_maps(blank_maps(5, 5), 0.5, 2, (10, 10))
    assert list(empty.columns) == list(COLUMNS) and len(empty) == 0


def test_a_low_threshold_finds_faint_peaks_and_split_ones():
    maps = blank_maps(8, 8)
    maps[0, 1, 1] = np.log(0.03 / 0.97)  # a lone faint peak, p = 0.03
    # A particle on a cell corner, its probability split over four cells (p = 0.04 each)
    # whose offsets all point at (9, 9): one detection scoring ~0.15.
    for (r, c), (dx, dy) in zip(
        [(4, 4), (4, 5), (5, 4), (5, 5)],
        [(0.5, 0.5), (-1.5, 0.5), (0.5, -1.5), (-1.5, -1.5)],
        strict=True,
    ):
        maps[0, r, c] = np.log(0.04 / 0.96) - 0.01 * (r + c)
        maps[1, r, c], maps[2, r, c] = dx, dy
    corner = (1.0 / (1.0 + np.exp(-maps[0, 4:6, 4:6]))).sum()  # ~0.15, no cell above 0.04
    faint = decode_maps(maps, 0.025, 2, (16, 16))
    assert len(faint) == 2
    assert sorted(faint["prob"]) == pytest.approx([0.03, corner], abs=1e-4)
    split = decode_maps(maps, 0.14, 2, (16, 16))
    assert len(split) == 1
    assert (split["x"].iloc[0], split["y"].iloc[0]) == pytest.approx((9.0, 9.0))


def test_positions_outside_the_frame_are_dropped():
    maps = blank_maps(4, 4)
    maps[0, 0, 0] = 5.0
    maps[1, 0, 0] = -1.2  # x = -0.7: outside [-0.5, W - 0.5)
    maps[0, 3, 3] = 5.0
    maps[1, 3, 3] = 0.9  # x = 7.4 in a 7-pixel-wide frame (odd width, last cell half used)
    maps[0, 0, 3] = 5.0
    maps[1, 0, 3] = -0.2  # x = 6.3, y = 0.5: inside
    df = decode_maps(maps, 0.5, 2, (8, 7))
    assert len(df) == 1
    assert (df["x"].iloc[0], df["y"].iloc[0]) == pytest.approx((6.3, 0.5))


def test_mass_is_the_window_sum():
    maps = blank_maps(8, 8)
    maps[0, 3, 4] = 5.0
    image = np.zeros((16, 16))
    image[6:9, 8:11] = 1.0  # 3x3 block around (x=9, y=7)
    maps[1, 3, 4], maps[2, 3, 4] = 0.5, -0.5  # x = 9.0, y = 7.0
    df = decode_maps(maps, 0.5, 2, (16, 16), image=image, mass_radius_px=2)
    assert df["mass"].iloc[0] == pytest.approx(9.0)


def test_window_sums_clip_at_the_border():
    image = np.ones((5, 5))
    sums = window_sums(image, np.array([0.0, 2.0]), np.array([0.0, 2.0]), 1)
    assert list(sums) == [4.0, 9.0]


@settings(max_examples=50, deadline=None)
@given(
    row=st.integers(0, 9),
    col=st.integers(0, 9),
    dx=st.floats(-1.4, 1.4),
    dy=st.floats(-1.4, 1.4),
)
def test_single_peak_decodes_to_cell_centre_plus_offset(row, col, dx, dy):
    maps = blank_maps(10, 10)
    maps[0, row, col] = 3.0
    maps[1, row, col], maps[2, row, col] = dx, dy
    x, y = col * 2 + 0.5 + np.float32(dx), row * 2 + 0.5 + np.float32(dy)
    df = decode_maps(maps, 0.5, 2, (20, 20))
    inside = -0.5 <= x < 19.5 and -0.5 <= y < 19.5
    assert len(df) == int(inside)
    if inside:
        assert (df["x"].iloc[0], df["y"].iloc[0]) == pytest.approx((x, y), abs=1e-6)


def test_merging_neighbours_averages_cells_pointing_at_the_same_particle():
    maps = blank_maps(6, 6)
    # Peak cell (2, 2) says x = 4.5 + 0.9 = 5.4; neighbour (2, 3) says x = 6.5 - 0.9 = 5.6.
    maps[0, 2, 2], maps[0, 2, 3] = 2.0, 2.0 - 1e-3
    maps[1, 2, 2], maps[1, 2, 3] = 0.9, -0.9
    maps[0, 4, 4] = 0.5  # a separate particle: not merged (too far)
    plain = decode_maps(maps, 0.3, 2, (12, 12))
    merged = decode_maps(maps, 0.3, 2, (12, 12), merge_neighbours=True)
    assert plain["x"].iloc[0] == pytest.approx(5.4, abs=1e-6)
    assert merged["x"].iloc[0] == pytest.approx(5.5, abs=1e-3)
    assert merged["y"].iloc[0] == pytest.approx(4.5, abs=1e-6)
    assert merged["x"].iloc[1] == pytest.approx(plain["x"].iloc[1])


def test_corner_profile_raises_scores_near_cell_corners():
    from livetrack.model import corner_distance

    maps = blank_maps(6, 6)
    # A particle at a cell corner (x = y = 3.5) with its probability split over four cells.
    for r, c, dx, dy in [
        (1, 1, 1.0, 1.0),
        (1, 2, -1.0, 1.0),
        (2, 1, 1.0, -1.0),
        (2, 2, -1.0, -1.0),
    ]:
        maps[0, r, c] = np.log(0.1 / 0.9) + 0.001 * (r + c)
        maps[1, r, c], maps[2, r, c] = dx, dy
    assert corner_distance(np.array([3.5]), np.array([3.5]), 2)[0] == pytest.approx(0.0)
    plain = decode_maps(maps, 0.5, 2, (12, 12))
    corrected = decode_maps(maps, 0.5, 2, (12, 12), corner_profile=(0.6, 1.0, 1.0, 1.0, 1.0))
    assert len(plain) == 0
    assert len(corrected) == 1
    assert corrected["prob"].iloc[0] == pytest.approx(0.4 / 0.6, abs=0.01)
    assert (corrected["x"].iloc[0], corrected["y"].iloc[0]) == pytest.approx((3.5, 3.5))


def _null():
    t = np.linspace(0.0, 1.0, 101)
    return t, 1e-4 * (1.0 - t) ** 3  # background peaks per pixel scoring >= t


def test_adaptive_threshold_keeps_the_default_for_bright_particles():
    from livetrack.model import adaptive_threshold

    rng = np.random.default_rng(0)
    scores = np.concatenate([rng.uniform(0.9, 1.0, 200), rng.uniform(0.1, 0.3, 5)])
    assert adaptive_threshold(scores, *_null(), 512 * 512, default=0.45) == 0.45


def test_adaptive_threshold_goes_down_when_particles_score_low():
    from livetrack.model import adaptive_threshold

    rng = np.random.default_rng(1)
    t, rate = _null()
    area = 512 * 512
    # 200 faint particles scoring anywhere in (0.15, 1), plus background peaks drawn from
    # the null rate itself.
    n_null = int(rate[10] * area)
    null_scores = 1 - (1 - 0.1) * rng.uniform(0, 1, n_null) ** (1 / 4)
    scores = np.concatenate([rng.uniform(0.15, 1.0, 200), null_scores])
    cut = adaptive_threshold(scores, t, rate, area, default=0.45)
    assert 0.1 <= cut < 0.45
    # With no particles at all it never goes below the default.
    assert adaptive_threshold(null_scores, t, rate, area, default=0.45) == 0.45


def test_adaptive_threshold_counts_clutter_around_confident_particles():
    from livetrack.model import adaptive_threshold

    rng = np.random.default_rng(2)
    t = np.linspace(0.0, 1.0, 101)
    rate = np.zeros_like(t)  # a clean background
    # 200 confident and 300 middling particles (not a bright field: rule 1 does not
    # apply), and 200 faint false peaks that the bright ones raised around them.
    scores = np.concatenate(
        [rng.uniform(0.85, 1.0, 200), rng.uniform(0.3, 0.8, 300), rng.uniform(0.02, 0.09, 200)]
    )
    blind = adaptive_threshold(scores, t, rate, 512 * 512, default=0.45, lowest=0.02)
    assert blind < 0.05  # taken for faint particles
    clutter = np.where(t < 0.1, 1.0, 0.0)  # one false peak below 0.1 per confident one
    cut = adaptive_threshold(
        scores, t, rate, 512 * 512, default=0.45, lowest=0.02, clutter_per_confident=clutter
    )
    assert cut >= 0.09


def test_adaptive_threshold_rises_above_the_clutter_of_bright_particles():
    from livetrack.model import adaptive_threshold

    rng = np.random.default_rng(3)
    t = np.linspace(0.0, 1.0, 101)
    rate = np.zeros_like(t)
    # 300 bright particles, and 20 false peaks between 0.45 and 0.6 that they raised.
    scores = np.concatenate([rng.uniform(0.85, 1.0, 300), rng.uniform(0.45, 0.6, 20)])
    area = 512 * 512
    assert adaptive_threshold(scores, t, rate, area, default=0.45) == 0.45  # no clutter model
    clutter = np.where(t < 0.6, 20 / 300, 0.0)
    cut = adaptive_threshold(scores, t, rate, area, default=0.45, clutter_per_confident=clutter)
    assert 0.6 <= cut <= 0.85
    assert np.count_nonzero(scores >= cut) == 300
