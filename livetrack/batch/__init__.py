"""Many and long movies tracked on a Dask cluster: ``livetrack.track_many``.

Movies are read lazily (:mod:`~livetrack.batch._read`: TIFF / OME-TIFF, OME-Zarr, NDTiff),
split into time chunks whose positions together are those of one pass
(:mod:`~livetrack.batch._chunks`), localized chunk by chunk on the cluster's workers
(:mod:`~livetrack.batch._locate`), linked once per movie in the driver and written with a
manifest (:mod:`~livetrack.batch._manifest`) by :func:`track_many`
(:mod:`~livetrack.batch._run`) on a local cluster of CPU or GPU workers
(:mod:`~livetrack.batch._cluster`) or the user's own. Dask itself is imported only by the
run and the cluster.
"""

from livetrack.batch._chunks import BATCH_FRAMES, Chunk, overlap_frames, plan_chunks
from livetrack.batch._cluster import choose_gpus, local_client, visible_gpus
from livetrack.batch._locate import LocateSpec, locate_chunk
from livetrack.batch._manifest import MANIFEST_NAME, Manifest
from livetrack.batch._read import Movie, find_movies, open_movies, read_frames
from livetrack.batch._run import (
    DEFAULT_CHUNK_FRAMES,
    FORMATS,
    BatchReport,
    track_many,
)

__all__ = [
    "BATCH_FRAMES",
    "DEFAULT_CHUNK_FRAMES",
    "FORMATS",
    "MANIFEST_NAME",
    "BatchReport",
    "Chunk",
    "LocateSpec",
    "Manifest",
    "Movie",
    "choose_gpus",
    "find_movies",
    "local_client",
    "locate_chunk",
    "open_movies",
    "overlap_frames",
    "plan_chunks",
    "read_frames",
    "track_many",
    "visible_gpus",
]
