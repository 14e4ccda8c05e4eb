import pandas as pd
import pytest

from livetrack.batch import BATCH_FRAMES, overlap_frames, plan_chunks
from livetrack.batch._chunks import core_positions


@pytest.mark.parametrize("n", [1, 3, 4, 17, 64, 257])
@pytest.mark.parametrize("size", [0, 1, 4, 10, 256])
def test_cores_tile_the_movie_and_reads_cover_the_overlap(n, size):
    overlap = overlap_frames(1)
    chunks = plan_chunks(n, size, overlap)
    covered = [f for c in chunks for f in range(c.core_start, c.core_stop)]
    assert covered == list(range(n))
    for c in chunks:
        assert c.start == max(0, c.core_start - overlap)
        assert c.stop == min(n, c.core_stop + overlap)
        # Batches of the one-pass localizer start at multiples of BATCH_FRAMES.
        assert c.start % BATCH_FRAMES == 0
    if size == 0 or size >= n:
        assert len(chunks) == 1


def test_overlap_covers_the_temporal_window_and_stays_batch_aligned():
    for k in (1, 3, 5, 9, 21):
        ov = overlap_frames(k)
        assert ov % BATCH_FRAMES == 0
        assert ov >= k // 2 + BATCH_FRAMES


def test_plan_rejects_a_misaligned_overlap():
    with pytest.raises(ValueError, match="multiple"):
        plan_chunks(10, 4, 3)


def test_core_positions_keeps_only_the_core_frames():
    chunk = plan_chunks(40, 8, 8)[1]
    table = pd.DataFrame({"frame": range(40), "x": 0.0})
    kept = core_positions(table, chunk)
    assert kept["frame"].tolist() == list(range(8, 16))
