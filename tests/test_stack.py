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
    with pytest.raises(InputError, match="is a directory"):
        read_stack(tmp_path)
    text = tmp_path / "notes.tif"
    text.write_text("not an image")
    with pytest.raises(InputError, match="not a readable TIFF"):
        read_stack(text)
