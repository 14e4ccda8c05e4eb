"""Joint fits of overlapping spots and the pair test (``livetrack.localize.resolve_crowded``)."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from livetrack.localize import group_neighbours, render_gaussians, resolve_crowded

SIGMA = 1.0
BACKGROUND = 10.0


def photons_frame(rng, render, xs, ys, photons, shape=(40, 40)):
    expected = render(shape, xs, ys, photons, SIGMA, BACKGROUND)
    return rng.poisson(expected).astype(float)


def nearest_errors(fx, fy, xs, ys):
    d = np.hypot(fx[:, None] - xs[None], fy[:, None] - ys[None])
    return d.min(axis=0)


def test_render_matches_the_reference_renderer(render):
    x, y = np.array([10.3, 20.8]), np.array([12.6, 25.1])
    ours = render_gaussians((40, 40), x, y, np.array([100.0, 50.0]), 1.3)
    # Ours stops at 4 sigma: the tail beyond holds about 1e-4 of the photons.
    assert np.allclose(ours, render((40, 40), x, y, np.array([100.0, 50.0]), 1.3), atol=1e-2)
    assert ours.sum() == pytest.approx(150.0, rel=1e-3)


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.tuples(st.floats(0, 50), st.floats(0, 50)), min_size=1, max_size=25),
    st.floats(0.5, 10.0),
)
def test_groups_are_the_connected_components(points, link):
    pts = np.array(points)
    labels = group_neighbours(pts[:, 0], pts[:, 1], link)
    d = np.hypot(*(pts[:, None, :] - pts[None, :, :]).transpose(2, 0, 1))
    close = d <= link
    # Points closer than the link share a group ...
    assert np.all(labels[:, None] == labels[None, :], where=close)
    # ... and a group is connected: no split of it has all its links cut.
    for g in np.unique(labels):
        members = np.flatnonzero(labels == g)
        reached = {members[0]}
        frontier = [members[0]]
        while frontier:
            i = frontier.pop()
            for j in np.flatnonzero(close[i]):
                if j not in reached:
                    reached.add(j)
                    frontier.append(j)
        assert reached == set(members)


def test_one_detection_for_two_close_spots_becomes_two(rng, render):
    # Two spots 2.6 px apart: a detector with 2 px cells reports one, in between.
    xs, ys = np.array([18.0, 20.4]), np.array([20.0, 21.0])
    lone_x = np.array([8.0, 31.0, 10.0, 30.0, 20.0, 9.0])
    lone_y = np.array([8.0, 9.0, 31.0, 30.0, 6.0, 20.0])
    frame = photons_frame(rng, render, np.r_[xs, lone_x], np.r_[ys, lone_y], np.full(8, 800.0))
    det_x = np.r_[xs.mean(), lone_x]
    det_y = np.r_[ys.mean(), lone_y]
    fitted_sigma = np.r_[1.5, np.full(6, 1.0)]  # the merged detection fits wide
    em = resolve_crowded(
        frame, det_x, det_y, np.full(7, 1500.0), BACKGROUND, SIGMA, fitted_sigma=fitted_sigma
    )
    assert em.x.size == 8 and em.n_input == 7
    assert em.parent[-1] == 0  # the second emitter came from the merged detection
    errors = nearest_errors(em.x, em.y, xs, ys)
    assert errors.max() < 0.25


def test_isolated_spots_are_not_split(rng, render):
    # Bright isolated spots with a little width scatter: the pair test must not fire.
    g = np.arange(6.0, 36.0, 8.0)
    xs, ys = (a.ravel() + rng.uniform(-0.5, 0.5, 16) for a in np.meshgrid(g, g))
    frame = photons_frame(rng, render, xs, ys, np.full(16, 5000.0))
    fitted_sigma = np.r_[np.full(8, 1.1), np.full(8, 1.0)]
    em = resolve_crowded(
        frame, xs, ys, np.full(16, 5000.0), BACKGROUND, SIGMA, fitted_sigma=fitted_sigma
    )
    assert em.x.size == 16


def test_a_rod_is_not_split_into_spots(rng, render):
    # A rod (a line of overlapping spots) fits two Gaussians no better than one, as far as
    # the frame's isolated spots fit one.
    rod_x = np.linspace(14.0, 24.0, 21)
    frame = render((40, 40), rod_x, np.full(21, 20.0), np.full(21, 100.0), SIGMA, BACKGROUND)
    lone_x = np.array([5.0, 34.0, 6.0, 33.0, 20.0, 20.0])
    lone_y = np.array([5.0, 6.0, 34.0, 33.0, 5.0, 34.0])
    frame = rng.poisson(frame + render((40, 40), lone_x, lone_y, 800.0, SIGMA)).astype(float)
    em = resolve_crowded(
        frame,
        np.r_[19.0, lone_x],
        np.r_[20.0, lone_y],
        np.full(7, 1000.0),
        BACKGROUND,
        SIGMA,
        fitted_sigma=np.r_[2.5, np.full(6, 1.0)],
    )
    assert em.x.size == 7


def test_joint_fit_removes_the_pull_of_a_neighbour(rng, render):
    xs, ys = np.array([18.0, 21.2]), np.array([20.0, 20.3])
    lone_x = np.array([6.0, 33.0, 6.0, 33.0, 20.0])
    lone_y = np.array([6.0, 6.0, 33.0, 33.0, 6.0])
    single, joint = [], []
    for _ in range(20):
        frame = photons_frame(rng, render, np.r_[xs, lone_x], np.r_[ys, lone_y], np.full(7, 600.0))
        # Start where one-spot fits end: each pulled 0.4 px towards the other.
        start_x = xs + np.array([0.4, -0.4])
        em = resolve_crowded(
            frame,
            np.r_[start_x, lone_x],
            np.r_[ys, lone_y],
            np.full(7, 600.0),
            BACKGROUND,
            SIGMA,
        )
        assert em.refitted[:2].all() and not em.refitted[2:].any()
        single.append(np.abs(start_x - xs))
        joint.append(np.hypot(em.x[:2] - xs, em.y[:2] - ys))
    assert np.sqrt(np.mean(np.square(joint))) < 0.1 < np.sqrt(np.mean(np.square(single)))


def test_empty_and_degenerate_inputs():
    frame = np.full((20, 20), 10.0)
    em = resolve_crowded(frame, np.empty(0), np.empty(0), np.empty(0), 10.0, 1.0)
    assert em.x.size == 0
    em = resolve_crowded(frame, np.array([5.0]), np.array([5.0]), np.array([10.0]), 10.0, np.nan)
    assert em.x.tolist() == [5.0] and not em.refitted.any()
