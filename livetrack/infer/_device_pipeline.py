"""Host frames to positions with every step on one torch device: what the GPU backends run.

A frame goes up once, as the camera gave it (uint16 counts: half the bytes of float32), from
a pinned host buffer on the backend's CUDA stream; it is normalized, soft-clipped, run
through the network and decoded on the device (:mod:`._device_normalize`,
:mod:`._device_decode`), and only the detections' table comes back. The network is the
backend's: a TensorRT engine or a PyTorch module, handed over as a callable on device
tensors. On the CPU device the same code runs without streams or pinned memory, which is how
the tests check it against the numpy reference.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from livetrack.infer._device_decode import DeviceDecoder, table_from_rows
from livetrack.infer._device_normalize import DeviceNormalizer, as_float_frames
from livetrack.model import ModelSpec

if TYPE_CHECKING:
    import torch

#: ``network(batch) -> maps``: a float32 ``(B, 1, H', W')`` device tensor in, the raw maps
#: ``(B, 5, ceil(H' / stride), ceil(W' / stride))`` (float32 or float16) out, same device.
DeviceNetwork = Callable[["torch.Tensor"], "torch.Tensor"]


class DevicePipeline:
    """Locate particles with normalization, network and decoding on one torch device.

    Parameters
    ----------
    spec : ModelSpec
        The model.
    network : callable
        The backend's network on device tensors (see :data:`DeviceNetwork`).
    device : str or torch.device
        ``"cuda"``, ``"cuda:N"`` or ``"cpu"``.

    Notes
    -----
    Gradients are off with ``torch.no_grad`` rather than ``inference_mode``: the CUDA
    backend's graphs keep static tensors from call to call, and inference tensors refuse
    in-place updates outside inference mode.
    Host and device buffers are reused from call to call (per frame shape and dtype), so a
    stream allocates nothing per frame; a lock serializes callers, as a CUDA stream and an
    execution context serve one batch at a time.
    """

    def __init__(self, spec: ModelSpec, network: DeviceNetwork, device: Any) -> None:
        import torch

        self.spec = spec
        self.network = network
        self.device = torch.device(device)
        self.cuda = self.device.type == "cuda"
        if self.cuda and self.device.index is None:
            # "cuda" means the current GPU: named by its index, as the status shows it.
            self.device = torch.device("cuda", torch.cuda.current_device())
        self.stream = torch.cuda.Stream(self.device) if self.cuda else None
        self.normalizer = DeviceNormalizer(spec)
        self.decoder = DeviceDecoder(spec)
        self._lock = threading.Lock()
        self._buffers: dict[tuple[Any, ...], torch.Tensor] = {}

    def _buffer(self, name: str, shape: tuple[int, ...], dtype: Any, host: bool = False) -> Any:
        """Return a reused buffer: on the device, or pinned host memory for uploads."""
        import torch

        key = (name, shape, dtype, host)
        buf = self._buffers.get(key)
        if buf is None:
            # One shape at a time per buffer: a new frame size replaces the old buffers.
            for old in [k for k in self._buffers if k[0] == name and k[3] == host]:
                del self._buffers[old]
            if host:
                buf = torch.empty(shape, dtype=dtype, pin_memory=self.cuda)
            else:
                buf = torch.empty(shape, dtype=dtype, device=self.device)
            self._buffers[key] = buf
        return buf

    @contextlib.contextmanager
    def _on_stream(self) -> Iterator[None]:
        import torch

        if self.stream is None:
            yield
            return
        with torch.cuda.stream(self.stream):
            yield

    def upload(self, stack: np.ndarray) -> tuple[torch.Tensor, bool]:
        """Copy a host ``(T, H, W)`` stack to the device as float32 frames.

        Returns
        -------
        frames : torch.Tensor
            ``(T, H, W)`` float32 on the device.
        integer : bool
            The frames hold integers (their statistics take the integer path).
        """
        import torch

        stack = np.ascontiguousarray(stack)
        integer = stack.dtype.kind in "iub"
        unsigned16 = stack.dtype == np.uint16
        # torch before 2.3 has no uint16: the counts travel as int16 bits.
        host_array = stack.view(np.int16) if unsigned16 else stack
        if stack.dtype == np.bool_ or (stack.dtype.kind == "u" and not unsigned16):
            host_array = stack.astype(np.int32 if stack.dtype.itemsize >= 2 else np.int16)
        elif stack.dtype == np.float64:
            host_array = stack.astype(np.float32)
        src = torch.from_numpy(host_array)
        if self.cuda:
            pinned = self._buffer("upload", tuple(src.shape), src.dtype, host=True)
            pinned.copy_(src)
            raw = self._buffer("raw", tuple(src.shape), src.dtype)
            raw.copy_(pinned, non_blocking=True)
        else:
            raw = src
        return as_float_frames(raw, unsigned16), integer

    def locate(self, stack: np.ndarray, frame_numbers: list[int], threshold: float) -> pd.DataFrame:
        """Locate every frame of a host ``(T, H, W)`` stack; only the table comes back.

        Parameters
        ----------
        stack : numpy.ndarray
            Frames as the camera gave them (any real dtype; uint16 travels as is).
        frame_numbers : list of int
            Frame number of each frame.
        threshold : float
            Detection score threshold.

        Returns
        -------
        pandas.DataFrame
            Columns ``frame, x, y, prob, sigma_x, sigma_y, mass`` (``mass`` in input units),
            as :class:`~livetrack.infer.CNNLocalizer` without refinement.
        """
        import torch

        t, h, w = stack.shape
        hp, wp = self.normalizer.padded_shape((h, w))
        s = self.spec.stride
        with self._lock, torch.no_grad(), self._on_stream():
            frames, integer = self.upload(stack)
            batch = self._buffer("batch", (t, 1, hp, wp), torch.float32)
            batch, noise = self.normalizer.normalize(frames, integer, out=batch)
            net_in = self._buffer("input", (t, 1, hp, wp), torch.float32)
            net_in = self.normalizer.network_input(batch, out=net_in)
            maps = self.network(net_in)[:, :, : -(-h // s), : -(-w // s)]
            rows = self.decoder.decode(maps, batch, noise, (h, w), threshold)
            # The one copy back: the detections, after the stream's work is done.
            host = rows.cpu().numpy()
        return table_from_rows(host, frame_numbers)

    def run_maps(self, batch: np.ndarray) -> np.ndarray:
        """Run the network on a host batch that is normalized already (the backend protocol).

        The maps come back to the host as float32, for the numpy decoding and refinement.
        """
        import torch

        batch = np.ascontiguousarray(batch, dtype=np.float32)
        with self._lock, torch.no_grad(), self._on_stream():
            src = torch.from_numpy(batch)
            if self.cuda:
                pinned = self._buffer("upload-batch", tuple(src.shape), torch.float32, host=True)
                pinned.copy_(src)
                x = self._buffer("input", tuple(src.shape), torch.float32)
                x.copy_(pinned, non_blocking=True)
            else:
                x = src
            maps = self.network(x)
            return maps.float().cpu().numpy()
