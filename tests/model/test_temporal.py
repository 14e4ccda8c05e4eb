import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from livetrack._errors import InputError
from livetrack.model import TemporalConfig, fuse_logits, neighbour_indices


def test_single_frame_config_leaves_logits_alone():
    logits = np.random.default_rng(0).normal(size=(4, 6, 7)).astype(np.float32)
    assert fuse_logits(logits, TemporalConfig()) is logits


def test_a_neighbour_counts_its_best_cell_within_one_cell():
    logits = np.full((3, 8, 8), -5.0, np.float32)
    logits[0, 3, 4] = 2.0  # one cell up-right of the centre frame's peak
    logits[1, 4, 3] = 1.0
    fused = fuse_logits(logits, TemporalConfig(3, (0.5,), 1.0))
    # centre frame: its own 1.0 + bias 1.0 + 0.5 * (2.0 from frame 0 + -5.0 from frame 2)
    assert fused[1, 4, 3] == pytest.approx(1.0 + 1.0 + 0.5 * (2.0 - 5.0))
    # two cells away the neighbour's peak no longer counts
    assert fused[1, 4, 6] == pytest.approx(-5.0 + 1.0 + 0.5 * (-5.0 - 5.0))


def test_ends_of_the_stack_mirror_their_neighbours():
    assert neighbour_indices(4, 3).tolist() == [[1, 1], [0, 2], [1, 3], [2, 2]]
    assert neighbour_indices(5, 5)[0].tolist() == [1, 1, 2, 2]
    with pytest.raises(InputError, match="at least 2 frames"):
        neighbour_indices(1, 3)


@settings(max_examples=30, deadline=None)
@given(
    n=st.integers(2, 7),
    frames=st.sampled_from([3, 5]),
    weight=st.floats(0.0, 2.0),
    shift=st.floats(-50.0, 50.0),
)
def test_fusion_is_monotone_and_shift_equivariant(n, frames, weight, shift):
    if n <= frames // 2:
        n = frames // 2 + 1
    rng = np.random.default_rng(n)
    logits = rng.normal(size=(n, 5, 6))
    cfg = TemporalConfig(frames, (weight,) * (frames // 2), 0.3)
    fused = fuse_logits(logits, cfg)
    # Shifting every logit by c shifts the fused one by c * (1 + total neighbour weight).
    total = 1.0 + 2.0 * sum(cfg.weights)
    assert np.allclose(fuse_logits(logits + shift, cfg), fused + shift * total, atol=1e-6)
    # More evidence anywhere never lowers the fused logit.
    assert (fuse_logits(logits + np.abs(rng.normal(size=logits.shape)), cfg) >= fused - 1e-9).all()


@pytest.mark.parametrize(("frames", "weights"), [(2, (0.5,)), (3, ()), (0, ())])
def test_bad_temporal_config(frames, weights):
    with pytest.raises(ValueError):
        TemporalConfig(frames, weights)


def test_torch_twin_matches_numpy():
    torch = pytest.importorskip("torch")
    from livetrack.model import TemporalFusion

    fusion = TemporalFusion(5, 0.4, -1.2)
    with torch.no_grad():
        fusion.weights.copy_(torch.tensor([0.4, 0.2]))
    logits = np.random.default_rng(1).normal(size=(5, 9, 11)).astype(np.float32)
    expect = fuse_logits(logits, fusion.config())[2]
    got = fusion(torch.from_numpy(logits[None])).detach().numpy()[0]
    assert np.allclose(got, expect, atol=1e-5)


@settings(max_examples=40, deadline=None)
@given(t=st.integers(1, 3), h=st.integers(1, 9), w=st.integers(1, 9), seed=st.integers(0, 10**6))
def test_max3x3_is_the_3x3_maximum_filter(t, h, w, seed):
    from scipy import ndimage

    from livetrack.model._temporal import max3x3

    maps = np.random.default_rng(seed).normal(size=(t, h, w)).astype(np.float32)
    expect = ndimage.maximum_filter(maps, size=(1, 3, 3), mode="nearest")
    assert np.array_equal(max3x3(maps), expect)


def test_two_frames_away_the_window_is_5x5_cells():
    logits = np.full((5, 9, 9), -5.0, np.float32)
    logits[0, 2, 6] = 3.0  # two frames before the centre, two cells up and right
    cfg = TemporalConfig(5, (0.0, 1.0), 0.0)
    fused = fuse_logits(logits, cfg)
    assert fused[2, 4, 4] == pytest.approx(-5.0 + 3.0 - 5.0)
    assert fused[2, 4, 3] == pytest.approx(-5.0 - 5.0 - 5.0)  # three cells: out of reach


def test_a_bright_neighbour_adds_no_more_than_the_cap():
    logits = np.full((3, 8, 8), -8.0, np.float32)
    logits[0, 4, 4] = logits[2, 4, 4] = 12.0  # a bright particle in both neighbours
    capped = TemporalConfig(3, (0.5,), 0.0, neighbour_cap=3.0)
    # The ring of cells around it in the centre frame gets 2 * 0.5 * 3, not 2 * 0.5 * 12.
    assert fuse_logits(logits, capped)[1, 4, 5] == pytest.approx(-8.0 + 3.0)
    assert fuse_logits(logits, TemporalConfig(3, (0.5,), 0.0))[1, 4, 5] == pytest.approx(4.0)
    # The frame's own logit is never capped.
    logits[1, 4, 4] = 12.0
    assert fuse_logits(logits, capped)[1, 4, 4] == pytest.approx(12.0 + 3.0)


def test_torch_twin_applies_the_cap_too():
    torch = pytest.importorskip("torch")
    from livetrack.model import TemporalFusion

    fusion = TemporalFusion(3, 0.4, 0.5, neighbour_cap=1.0)
    logits = (3 * np.random.default_rng(2).normal(size=(3, 9, 11))).astype(np.float32)
    expect = fuse_logits(logits, fusion.config())[1]
    got = fusion(torch.from_numpy(logits[None])).detach().numpy()[0]
    assert fusion.config().neighbour_cap == 1.0
    assert np.allclose(got, expect, atol=1e-5)


def test_causal_window_counts_only_earlier_frames():
    logits = np.full((3, 8, 8), -5.0, np.float32)
    logits[0, 3, 4] = 2.0  # two frames back, one cell up-right
    logits[1, 4, 3] = 1.0  # one frame back
    logits[2, 4, 3] = 0.5
    cfg = TemporalConfig(3, (0.5, 0.25), 1.0, causal=True)
    fused = fuse_logits(logits, cfg)
    assert fused[2, 4, 3] == pytest.approx(0.5 + 1.0 + 0.5 * 1.0 + 0.25 * 2.0)
    # A later frame's evidence never reaches an earlier frame.
    later = logits.copy()
    later[2] = 9.0
    assert np.array_equal(fuse_logits(later, cfg)[:2], fused[:2])


def test_causal_frames_before_the_start_repeat_the_frame_itself():
    assert neighbour_indices(4, 3, causal=True).tolist() == [[-1, -1], [0, -1], [1, 0], [2, 1]]
    assert neighbour_indices(1, 5, causal=True).tolist() == [[-1, -1, -1, -1]]
    logits = np.full((2, 16, 16), -4.0, np.float32)
    logits[:, 2:4, 2:4] = 3.0  # a particle in both frames
    logits[1, 8, 8] = 2.0  # and a noise peak in frame 1 only
    cfg = TemporalConfig(3, (0.5, 0.25), 1.0, neighbour_cap=2.5, causal=True)
    fused = fuse_logits(logits, cfg)
    # Frame 0 has no earlier frames: each counts as the frame itself, capped, not pooled.
    assert fused[0, 3, 3] == pytest.approx(3.0 + 1.0 + 0.75 * 2.5)
    assert fused[0, 4, 4] == pytest.approx(-4.0 + 1.0 + 0.75 * -4.0)
    # Frame 1 has frame 0 one back (pooled); two back does not exist.
    assert fused[1, 3, 3] == pytest.approx(3.0 + 1.0 + 0.5 * 2.5 + 0.25 * 2.5)
    assert fused[1, 8, 8] == pytest.approx(2.0 + 1.0 + 0.5 * -4.0 + 0.25 * 2.0)


def test_causal_config_has_a_weight_per_earlier_frame():
    cfg = TemporalConfig(4, (0.5, 0.4, 0.3), causal=True)
    assert cfg.distances == 3 and cfg.frames_ahead == 0
    assert cfg.to_dict()["causal"] is True
    assert TemporalConfig(5, (0.1, 0.2)).frames_ahead == 2
    assert TemporalConfig(5, (0.1, 0.2)).whole_window_index == 2
    assert cfg.whole_window_index == 3 and TemporalConfig().whole_window_index == 0
    assert "causal" not in TemporalConfig(5, (0.1, 0.2)).to_dict()
    for frames, weights in [(1, ()), (3, (0.5,)), (3, (0.5, 0.5, 0.5))]:
        with pytest.raises(ValueError):
            TemporalConfig(frames, weights, causal=True)


@settings(max_examples=30, deadline=None)
@given(n=st.integers(1, 7), frames=st.integers(2, 5), weight=st.floats(0.0, 2.0))
def test_causal_fusion_is_shift_equivariant(n, frames, weight):
    logits = np.random.default_rng(n).normal(size=(n, 5, 6))
    cfg = TemporalConfig(frames, (weight,) * (frames - 1), 0.3, causal=True)
    total = 1.0 + sum(cfg.weights)
    assert np.allclose(fuse_logits(logits + 7.0, cfg), fuse_logits(logits, cfg) + 7.0 * total)


def test_torch_twin_matches_numpy_for_a_causal_window():
    torch = pytest.importorskip("torch")
    from livetrack.model import TemporalFusion

    fusion = TemporalFusion(4, 0.4, -1.2, neighbour_cap=1.5, causal=True)
    with torch.no_grad():
        fusion.weights.copy_(torch.tensor([0.5, 0.3, 0.2]))
    assert fusion.target == 3 and fusion.config().causal
    logits = (2 * np.random.default_rng(3).normal(size=(4, 9, 11))).astype(np.float32)
    expect = fuse_logits(logits, fusion.config())[3]
    got = fusion(torch.from_numpy(logits[None])).detach().numpy()[0]
    assert np.allclose(got, expect, atol=1e-5)


def test_causal_stream_equals_fusing_the_movie():
    from livetrack.model import CausalStream

    logits = (2 * np.random.default_rng(4).normal(size=(7, 10, 12))).astype(np.float32)
    cfg = TemporalConfig(4, (0.5, 0.3, 0.2), 0.7, neighbour_cap=1.5, causal=True)
    stream = CausalStream(cfg)
    pushed = [stream.push(t, logits[t]) for t in range(7)]
    assert np.allclose(np.stack([f for f, _ in pushed]), fuse_logits(logits, cfg), atol=1e-5)
    assert [c for _, c in pushed] == [False, False, False, True, True, True, True]
    # Dropped frames (7, 8) count as the frame itself; an earlier number starts a new stream.
    fused, complete = stream.push(9, logits[2])
    expect = fuse_logits(logits[[2, 6]], cfg, np.array([0]), np.array([[-1, -1, 1]]))[0]
    assert not complete and np.allclose(fused, expect, atol=1e-5)
    assert np.allclose(stream.push(0, logits[0])[0], fuse_logits(logits, cfg)[0])
    with pytest.raises(ValueError, match="causal"):
        CausalStream(TemporalConfig(3, (0.5,)))
