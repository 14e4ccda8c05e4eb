import subprocess
import sys

import pytest

import livetrack
from livetrack import simulate
from livetrack.evaluate import link_score, score


def test_public_names_are_pinned():
    assert sorted(livetrack.__all__) == [
        "InputError",
        "Linker",
        "LivetrackError",
        "ModelFileError",
        "TrackWriter",
        "__version__",
        "bench",
        "evaluate",
        "link",
        "localize",
        "locate",
        "protocols",
        "read_tracks",
        "record",
        "registry",
        "simulate",
        "track",
        "track_many",
    ]
    for name in livetrack.__all__:
        assert getattr(livetrack, name) is not None


def test_import_is_light():
    code = "import sys, livetrack; print(any(m in sys.modules for m in ('torch', 'pandas')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@pytest.fixture
def movie():
    return simulate.simulate_movie(
        n_frames=6,
        shape=(96, 96),
        n_particles=12,
        snr=15,
        min_separation_px=12,
        dynamics=simulate.Dynamics(diffusion_px2=0.3),
        seed=11,
    )


def test_track_with_a_classical_method(movie):
    tracks = livetrack.track(movie.frames, method="mle", search_range_px=4, memory=1)
    assert {"frame", "x", "y", "particle"} <= set(tracks.columns)
    assert score(movie.truth, tracks).jaccard > 0.9
    assert link_score(movie.truth, tracks) > 0.9


def test_locate_rejects_unknown_method(movie):
    with pytest.raises(livetrack.InputError, match="unknown method 'x'"):
        livetrack.locate(movie.frames, method="x")


def test_protocol_and_registry_names_are_pinned():
    from livetrack import protocols, registry

    assert protocols.__all__ == [
        "FrameSource",
        "InferenceBackend",
        "Linker",
        "Localizer",
        "Recorder",
    ]
    assert registry.__all__ == [
        "AUTO_ORDER",
        "CLASSICAL",
        "BackendEntry",
        "LocalizerKind",
        "LocalizerName",
        "backend_names",
        "backend_unavailable",
        "check_backend",
        "choose_backend",
        "localizer_kinds",
        "localizer_syntax",
        "make_backend",
        "make_localizer",
        "parse_localizer",
        "register_backend",
        "register_localizer",
    ]
    for module in (protocols, registry):
        for name in module.__all__:
            assert getattr(module, name) is not None


def test_the_command_line_stays_light():
    # Its help texts list the registry's names: the registry must not pull in the rest.
    code = "import sys, livetrack.cli; print(any(m in sys.modules for m in ('numpy', 'pandas')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
