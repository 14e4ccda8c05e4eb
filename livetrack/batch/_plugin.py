"""A Dask worker plugin that gives each worker of a local cluster a core of its own."""

from __future__ import annotations

import os
from typing import Any

from distributed.diagnostics.plugin import WorkerPlugin

__all__ = ["PinToCore"]


class PinToCore(WorkerPlugin):
    """Worker ``i`` of a local cluster runs on core ``i`` only.

    ONNX Runtime sizes its thread pool by the cores the process may use; unpinned, every
    worker would start one inference thread per core and they would fight over them.

    Parameters
    ----------
    cores : list of int
        The cores to spread the workers over (in worker-name order).
    """

    name = "livetrack-pin-to-core"

    def __init__(self, cores: list[int]) -> None:
        self.cores = list(cores)

    def setup(self, worker: Any) -> None:
        """Pin the worker's process (a worker restarted by its nanny is pinned again)."""
        try:
            index = int(worker.name)
        except (TypeError, ValueError):
            return  # not a local cluster's numbered worker: leave it as it is
        os.sched_setaffinity(0, {self.cores[index % len(self.cores)]})
