import warnings
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pytest
import tifffile

from livetrack._errors import InputError
from livetrack._stack import as_stack, read_stack


def test_frame_becomes_stack_of_one():
    frame = np.zeros((5, 7), np.uint16)
    assert as_stack(frame).shape == (1, 5, 7)


def test_singleton_channel_axis_is_squeezed():
    assert as_stack(np.zeros((3, 1, 5, 7), np.float32)).shape == (3, 5, 7)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (np.zeros((2, 4, 5, 3)), "expected a 2-D frame or a 3-D stack"),
        (np.zeros(5), "expected a 2-D frame or a 3-D stack"),
        (np.zeros((0, 4, 4)), "empty stack"),
        (np.array([["a", "b"]]), "expected real-valued image data"),
        (np.zeros((2, 2), complex), "expected real-valued image data"),
        (np.zeros((2, 2), bool), "expected real-valued image data"),
    ],
)
def test_bad_arrays_are_named(data, message):
    with pytest.raises(InputError, match=message):
        as_stack(data)


def test_nan_names_the_frame():
    stack = np.zeros((3, 4, 4))
    stack[2, 1, 1] = np.nan
    with pytest.raises(InputError, match="frame 2 contains NaN"):
        as_stack(stack)


def test_read_stack_round_trip(tmp_path):
    stack = np.arange(2 * 6 * 8, dtype=np.uint16).reshape(2, 6, 8)
    tifffile.imwrite(tmp_path / "m.tif", stack)
    np.testing.assert_array_equal(read_stack(tmp_path / "m.tif"), stack)


def test_read_stack_errors(tmp_path):
    with pytest.raises(InputError, match="no such file"):
        read_stack(tmp_path / "missing.tif")
    text = tmp_path / "notes.tif"
    text.write_text("not an image")
    with pytest.raises(InputError, match="not a readable TIFF"):
        read_stack(text)


# --- reading files as they come from microscopes and papers -----------------------------

REALDATA = Path(__file__).parents[1].parent / "shared" / "realdata"


def blobs(n_frames: int, shape: tuple[int, int], dtype=np.uint8) -> np.ndarray:
    """Smooth frames (a moving Gaussian on a grey level) that video codecs keep well."""
    rows, cols = np.indices(shape)
    frames = [
        60 + 150 * np.exp(-((rows - 20) ** 2 + (cols - 15 - 4 * t) ** 2) / (2 * 4.0**2))
        for t in range(n_frames)
    ]
    return np.stack(frames).round().astype(dtype)


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float32])
def test_tiff_stack_keeps_dtype(tmp_path, dtype):
    stack = (np.arange(3 * 6 * 8) * 7 % 251).reshape(3, 6, 8).astype(dtype)
    tifffile.imwrite(tmp_path / "m.tiff", stack, photometric="minisblack")
    out = read_stack(tmp_path / "m.tiff")
    assert out.dtype == dtype
    np.testing.assert_array_equal(out, stack)


def test_rgb_tiff_with_equal_channels_keeps_one_channel(tmp_path):
    grey = blobs(2, (16, 24), np.uint16)
    tifffile.imwrite(tmp_path / "rgb.tif", np.repeat(grey[..., None], 3, axis=-1))
    out = read_stack(tmp_path / "rgb.tif")
    assert out.dtype == np.uint16
    np.testing.assert_array_equal(out, grey)


def test_rgb_tiff_with_unequal_channels_is_the_mean(tmp_path):
    rgb = np.random.default_rng(1).integers(0, 256, (2, 16, 24, 3), dtype=np.uint8)
    tifffile.imwrite(tmp_path / "rgb.tif", rgb)
    out = read_stack(str(tmp_path / "rgb.tif"))
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, rgb.mean(-1), rtol=1e-6)


def test_planar_rgb_tiff_is_grey(tmp_path):
    grey = blobs(1, (16, 24))[0]
    planes = np.stack([grey, grey, grey])
    tifffile.imwrite(tmp_path / "p.tif", planes, photometric="rgb", planarconfig="separate")
    np.testing.assert_array_equal(read_stack(tmp_path / "p.tif"), grey[None])


def test_grey_stack_three_pixels_wide_is_not_colour(tmp_path):
    stack = np.arange(5 * 8 * 3, dtype=np.uint8).reshape(5, 8, 3)
    tifffile.imwrite(tmp_path / "narrow.tif", stack, photometric="minisblack")
    np.testing.assert_array_equal(read_stack(tmp_path / "narrow.tif"), stack)


def test_rgba_png_drops_alpha(tmp_path):
    grey = blobs(1, (16, 24))[0]
    alpha = np.random.default_rng(2).integers(0, 256, grey.shape, dtype=np.uint8)
    iio.imwrite(tmp_path / "a.png", np.dstack([grey, grey, grey, alpha]))
    out = read_stack(tmp_path / "a.png")
    assert out.shape == (1, 16, 24) and out.dtype == np.uint8
    np.testing.assert_array_equal(out[0], grey)


def test_rgb_png_with_unequal_channels_is_the_mean(tmp_path):
    rgb = np.random.default_rng(3).integers(0, 256, (16, 24, 3), dtype=np.uint8)
    iio.imwrite(tmp_path / "c.png", rgb)
    out = read_stack(tmp_path / "c.png")
    assert out.dtype == np.float32
    np.testing.assert_allclose(out[0], rgb.mean(-1), rtol=1e-6)


def test_16_bit_png_and_jpeg(tmp_path):
    deep = (blobs(1, (16, 24), np.uint16)[0] * 250).astype(np.uint16)
    iio.imwrite(tmp_path / "deep.png", deep)
    out = read_stack(tmp_path / "deep.png")
    assert out.dtype == np.uint16
    np.testing.assert_array_equal(out[0], deep)
    grey = blobs(1, (16, 24))[0]
    iio.imwrite(tmp_path / "lossy.JPG", grey, quality=95)
    out = read_stack(tmp_path / "lossy.JPG")
    assert out.shape == (1, 16, 24) and out.dtype == np.uint8
    assert np.abs(out[0].astype(int) - grey).max() <= 4


@pytest.fixture
def png_folder(tmp_path):
    """frame1.png ... frame12.png, each filled with its number, written in scrambled order."""
    folder = tmp_path / "frames"
    folder.mkdir()
    for i in (10, 2, 1, 12, 11, 3, 4, 5, 6, 7, 8, 9):
        iio.imwrite(folder / f"frame{i}.png", np.full((8, 16), i, np.uint8))
    (folder / "notes.txt").write_text("acquired on a Tuesday")
    (folder / ".frame0.png").write_bytes(b"macOS resource fork, not an image")
    return folder


def test_folder_of_pngs_in_natural_order(png_folder):
    out = read_stack(png_folder)
    assert out.shape == (12, 8, 16) and out.dtype == np.uint8
    np.testing.assert_array_equal(out[:, 0, 0], np.arange(1, 13))


def test_glob_of_pngs(png_folder):
    out = read_stack(str(png_folder / "frame1*.png"))
    np.testing.assert_array_equal(out[:, 0, 0], [1, 10, 11, 12])


def test_folder_of_single_tiffs(tmp_path):
    stack = blobs(3, (16, 24), np.uint16)
    for i, frame in enumerate(stack):
        tifffile.imwrite(tmp_path / f"img_{i:03d}.tif", frame)
    np.testing.assert_array_equal(read_stack(tmp_path), stack)


@pytest.mark.parametrize("suffix", [".mp4", ".avi", ".mov", ".mkv", ".m4v"])
def test_video_decodes_close_to_what_was_written(tmp_path, suffix):
    # H.264 is lossy, so decoded frames are close to the written ones, not equal.
    frames = blobs(6, (48, 64))  # both sides multiples of 16: no resizing by the writer
    path = tmp_path / f"movie{suffix}"
    # imageio's ffmpeg plugin knows .m4v only as MP4
    hint = ".mp4" if suffix == ".m4v" else None
    iio.imwrite(path, frames, plugin="FFMPEG", extension=hint, fps=10, codec="libx264")
    out = read_stack(path)
    assert out.shape == frames.shape and out.dtype == np.uint8
    assert np.abs(out.astype(float) - frames).mean() < 2


def test_real_video_is_grey_uint8():
    path = REALDATA / "deeptrack_example2.mp4"
    if not path.exists():
        pytest.skip(f"real videos not found in {REALDATA}")
    out = read_stack(path)
    assert out.shape == (100, 120, 120) and out.dtype == np.uint8
    with warnings.catch_warnings():
        # imageio-ffmpeg leaves ffmpeg's pipes to the garbage collector at the video's end.
        warnings.filterwarnings("ignore", message="unclosed file", category=ResourceWarning)
        rgb = iio.imread(path, plugin="FFMPEG")
    np.testing.assert_array_equal(out, rgb.mean(-1))


def test_bad_files_are_one_line_errors(tmp_path):
    with pytest.raises(InputError, match=r"no such file: .*missing\.mp4$"):
        read_stack(tmp_path / "missing.mp4")
    (tmp_path / "movie.xyz").write_text("?")
    with pytest.raises(InputError, match=r"unsupported file type '\.xyz'.*\.tif.*\.png.*\.mp4"):
        read_stack(tmp_path / "movie.xyz")
    (tmp_path / "text.mp4").write_text("not a video")
    with pytest.raises(InputError, match=r"text\.mp4: not a readable video \(Invalid data"):
        read_stack(tmp_path / "text.mp4")
    (tmp_path / "text.png").write_text("not an image")
    with pytest.raises(InputError, match=r"text\.png: not a readable image"):
        read_stack(tmp_path / "text.png")


def test_truncated_video_is_one_line_error(tmp_path):
    path = tmp_path / "cut.mp4"
    iio.imwrite(path, blobs(6, (48, 64)), plugin="FFMPEG", fps=10, codec="libx264")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError, match=r"cut\.mp4: not a readable video") as info:
        read_stack(path)
    assert "\n" not in str(info.value)


def test_empty_folder_and_glob_without_match(tmp_path):
    (tmp_path / "readme.txt").write_text("no images here")
    with pytest.raises(InputError, match="folder holds no PNG, TIFF or JPEG images"):
        read_stack(tmp_path)
    with pytest.raises(InputError, match=r"no files match .*\*\.png$"):
        read_stack(str(tmp_path / "*.png"))
    with pytest.raises(InputError, match=r"no PNG, TIFF or JPEG images among the 1 paths"):
        read_stack(str(tmp_path / "*.txt"))


def test_mixed_shapes_name_the_first_file_that_differs(tmp_path):
    for i in (1, 2, 10):
        iio.imwrite(tmp_path / f"f{i}.png", np.zeros((8, 8), np.uint8))
    iio.imwrite(tmp_path / f"f{3}.png", np.zeros((8, 9), np.uint8))
    iio.imwrite(tmp_path / f"f{4}.png", np.zeros((9, 9), np.uint8))
    with pytest.raises(InputError, match=r"f3\.png: frame shape \(8, 9\) differs from \(8, 8\)"):
        read_stack(tmp_path)
