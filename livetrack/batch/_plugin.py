"""The Dask side of the local cluster: core pinning, and one worker per GPU.

Imported only where a cluster is started: it imports ``distributed``.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Sequence
from typing import Any

from distributed import LocalCluster
from distributed.diagnostics.plugin import WorkerPlugin

__all__ = ["GPUCluster", "PinToCore"]


class PinToCore(WorkerPlugin):
    """Worker ``i`` of a local cluster runs on the cores of group ``i`` only.

    ONNX Runtime sizes its thread pool by the cores the process may use; unpinned, every
    worker would start one inference thread per core and they would fight over them.

    Parameters
    ----------
    groups : sequence of sequences of int
        The cores of each worker (in worker-name order; worker ``i`` takes group
        ``i % len(groups)``): one core each for CPU workers, a share of the cores each for
        GPU workers.
    """

    name = "livetrack-pin-to-core"

    def __init__(self, groups: Sequence[Sequence[int]]) -> None:
        self.groups = [sorted(g) for g in groups if len(g)]

    def setup(self, worker: Any) -> None:
        """Pin the worker's process (a worker restarted by its nanny is pinned again)."""
        try:
            index = int(worker.name)
        except (TypeError, ValueError):
            return  # not a local cluster's numbered worker: leave it as it is
        if self.groups:
            os.sched_setaffinity(0, set(self.groups[index % len(self.groups)]))


class GPUCluster(LocalCluster):
    """A ``LocalCluster`` with one worker process per GPU, each seeing only its own.

    As dask-cuda's ``LocalCUDACluster`` does: worker ``i`` is started (and restarted by its
    nanny) with ``CUDA_VISIBLE_DEVICES`` set to ``devices[i]`` alone, so the process's
    ``cuda:0`` is that GPU and its model and CUDA context live there only.

    Parameters
    ----------
    devices : sequence of str
        The GPUs, as ``CUDA_VISIBLE_DEVICES`` names them (indices or UUIDs).
    **kwargs
        For ``distributed.LocalCluster`` (``memory_limit``, ``dashboard_address``, ...);
        ``n_workers`` is ``len(devices)``, one thread each.
    """

    def __init__(self, devices: Sequence[str], **kwargs: Any) -> None:
        self.devices = [str(d) for d in devices]
        # No workers from the base class: each is made by new_worker_spec, with its GPU.
        super().__init__(n_workers=0, threads_per_worker=1, processes=True, **kwargs)
        self.scale(len(self.devices))
        # scale() only schedules the workers' start: start them now, while the caller's
        # Dask configuration (read by each nanny as it is made) is still in force.
        self.sync(self._correct_state)

    def new_worker_spec(self) -> dict[int, dict[str, Any]]:
        """Return the spec of the next worker: the first GPU without one."""
        free = [i for i in range(len(self.devices)) if i not in self.worker_spec]
        if not free:
            raise ValueError(f"one worker per GPU: all {len(self.devices)} have one")
        index = free[0]
        spec = copy.deepcopy(self.new_spec)
        env = dict(spec["options"].get("env") or {})
        env["CUDA_VISIBLE_DEVICES"] = self.devices[index]
        spec["options"]["env"] = env
        return {index: spec}
