"""The TensorRT engine cache, with fake engine bytes: keys, reuse, and never trusting a bad file."""

import logging
from types import SimpleNamespace

import pytest

from livetrack._errors import LivetrackError
from livetrack.infer import EngineCache, EngineKey
from livetrack.infer._engine_cache import MAGIC, default_cache_dir, pack, unpack
from livetrack.infer._tensorrt import covers, fp16_mode, shape_profile

PROFILE = ((1, 1, 32, 32), (1, 1, 512, 512), (8, 1, 2048, 2048))
KEY = EngineKey("ab" * 32, "NVIDIA H200 (sm_90)", "10.3.0", PROFILE, "fp16-flag")
ENGINE = b"\x00fake engine bytes\xff" * 50


class FakeRuntime:
    """Builds and opens 'engines': counts builds, refuses bytes it did not make."""

    def __init__(self, engine=ENGINE):
        self.engine = engine
        self.builds = 0

    def build(self):
        self.builds += 1
        return self.engine

    def open(self, data):
        return SimpleNamespace(data=data) if data == self.engine else None


@pytest.fixture
def cache(tmp_path):
    return EngineCache(tmp_path / "engines")


def test_the_key_changes_with_everything_an_engine_depends_on():
    digests = {KEY.digest()}
    for field, value in [
        ("model_sha256", "cd" * 32),
        ("gpu", "NVIDIA H100 80GB HBM3 (sm_90)"),
        ("tensorrt", "11.0.0"),
        ("profile", (PROFILE[0], (1, 1, 2048, 2048), PROFILE[2])),
        ("precision", "fp32-fp32"),
    ]:
        digests.add(EngineKey(**{**KEY.__dict__, field: value}).digest())
    assert len(digests) == 6
    assert EngineKey(**KEY.__dict__).digest() == KEY.digest()  # stable across processes


def test_an_engine_is_built_once_then_loaded(cache, caplog):
    runtime = FakeRuntime()
    with caplog.at_level(logging.INFO, logger="livetrack"):
        first = cache.load_or_build(KEY, runtime.build, runtime.open, "a test engine")
    assert first.data == ENGINE and runtime.builds == 1
    assert "building a test engine" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="livetrack"):
        again = cache.load_or_build(KEY, runtime.build, runtime.open, "a test engine")
    assert again.data == ENGINE and runtime.builds == 1
    assert "building" not in caplog.text
    assert cache.path(KEY).read_bytes().startswith(MAGIC)


def _corrupt(data):
    return data[:-10] + bytes(b ^ 0xFF for b in data[-10:])


@pytest.mark.parametrize(
    ("damage", "why"),
    [
        (_corrupt, "checksum"),
        (lambda d: d[:-7], "engine bytes where the header says"),
        (lambda d: b"garbage" + d, "not a livetrack engine file"),
        (lambda d: MAGIC + b"\xff\xff", "cut short"),
        (lambda d: d[: len(MAGIC) + 4] + b"{not json" + d[len(MAGIC) + 30 :], "damaged header"),
        (lambda d: b"", "not a livetrack engine file"),
    ],
)
def test_a_damaged_file_is_rebuilt_never_opened(cache, caplog, damage, why):
    runtime = FakeRuntime()
    cache.load_or_build(KEY, runtime.build, runtime.open)
    path = cache.path(KEY)
    path.write_bytes(damage(path.read_bytes()))
    opened = []

    def open_engine(data):
        opened.append(data)
        return runtime.open(data)

    with caplog.at_level(logging.WARNING, logger="livetrack"):
        engine = cache.load_or_build(KEY, runtime.build, open_engine)
    assert engine.data == ENGINE
    assert runtime.builds == 2
    assert why in caplog.text and "rebuilding" in caplog.text
    assert opened == [ENGINE]  # the damaged bytes never reached the runtime
    assert unpack(KEY, path.read_bytes()) == (ENGINE, "")  # the file is whole again


def test_an_engine_of_another_key_is_not_trusted(cache, caplog):
    # Another GPU's engine copied under this key's name (a shared home folder, a copied cache).
    other = EngineKey(**{**KEY.__dict__, "gpu": "NVIDIA A100 (sm_80)"})
    cache.folder.mkdir(parents=True)
    cache.path(KEY).write_bytes(pack(other, b"an A100 engine"))
    runtime = FakeRuntime()
    with caplog.at_level(logging.WARNING, logger="livetrack"):
        engine = cache.load_or_build(KEY, runtime.build, runtime.open)
    assert engine.data == ENGINE and runtime.builds == 1
    assert "built for another model, GPU" in caplog.text


def test_bytes_the_runtime_refuses_are_rebuilt(cache, caplog):
    # A whole, matching file whose engine the runtime still refuses (a driver update).
    cache.store(KEY, b"stale engine")
    runtime = FakeRuntime()
    with caplog.at_level(logging.WARNING, logger="livetrack"):
        engine = cache.load_or_build(KEY, runtime.build, runtime.open)
    assert engine.data == ENGINE and runtime.builds == 1
    assert "does not load; rebuilding" in caplog.text


def test_a_fresh_engine_that_does_not_open_is_an_error(cache):
    runtime = FakeRuntime()
    with pytest.raises(LivetrackError, match="just built does not load"):
        cache.load_or_build(KEY, lambda: b"other bytes", runtime.open)
    assert not cache.path(KEY).exists()  # nothing unusable is cached


def test_an_unwritable_cache_still_gives_the_engine(tmp_path, caplog):
    blocker = tmp_path / "file"
    blocker.write_text("")
    cache = EngineCache(blocker / "engines")  # a folder below a file cannot be made
    runtime = FakeRuntime()
    with caplog.at_level(logging.WARNING, logger="livetrack"):
        assert cache.load_or_build(KEY, runtime.build, runtime.open).data == ENGINE
    assert "cannot cache" in caplog.text


def test_the_default_folder_is_the_user_cache(monkeypatch, tmp_path):
    monkeypatch.delenv("LIVETRACK_ENGINE_CACHE", raising=False)
    assert default_cache_dir().parts[-2:] == ("livetrack", "tensorrt")
    monkeypatch.setenv("LIVETRACK_ENGINE_CACHE", str(tmp_path))
    assert EngineCache().folder == tmp_path


@pytest.mark.parametrize(
    ("version", "has_flag", "mode"),
    [("10.3.0", True, "flag"), ("10.13.2", False, "typed"), ("11.0.0", False, "typed")],
)
def test_fp16_is_asked_for_as_each_tensorrt_line_takes_it(version, has_flag, mode):
    flags = SimpleNamespace(FP16=1) if has_flag else SimpleNamespace(TF32=2)
    trt = SimpleNamespace(__version__=version, BuilderFlag=flags)
    assert fp16_mode(trt) == mode


def test_the_shape_profile_covers_the_full_frame_and_rois():
    profile = shape_profile((1, 1, 1024, 1024))
    _, opt, _ = profile
    assert opt == (1, 1, 1024, 1024)
    for shape in [(1, 1, 2048, 2048), (8, 1, 2048, 2048), (1, 1, 256, 512), (1, 1, 32, 32)]:
        assert covers(profile, shape)
    assert not covers(profile, (1, 1, 2304, 4096))
    assert not covers(profile, (16, 1, 512, 512))
    # A larger frame: a new profile that still covers everything the old one did.
    bigger = shape_profile((1, 1, 2304, 4096), profile)
    assert covers(bigger, (1, 1, 2304, 4096)) and covers(bigger, (8, 1, 2048, 2048))
    # A warm-up's tiny frame does not tune the engine for itself.
    assert shape_profile((1, 1, 64, 64))[1] == (1, 1, 512, 512)
