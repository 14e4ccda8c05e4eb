"""livetrack: real-time deep-learning particle tracking for microscopy.

The public API is re-exported here and imported lazily, so that
``import livetrack`` stays fast and pulls in neither torch nor pandas until a
name that needs them is used.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from livetrack._errors import InputError, LivetrackError, ModelFileError
from livetrack._version import __version__

if TYPE_CHECKING:
    from livetrack import bench, evaluate, link, localize, protocols, record, registry, simulate
    from livetrack._api import locate, track
    from livetrack.batch import track_many
    from livetrack.link import Linker
    from livetrack.record import TrackWriter, read_tracks

# public name -> (module, attribute or None for the module itself). The linking
# function is ``livetrack.link.link``: a package attribute named like a subpackage
# would be replaced by the module as soon as the subpackage is imported.
_LAZY: dict[str, tuple[str, str | None]] = {
    "locate": ("livetrack._api", "locate"),
    "track": ("livetrack._api", "track"),
    "track_many": ("livetrack.batch", "track_many"),
    "Linker": ("livetrack.link", "Linker"),
    "TrackWriter": ("livetrack.record", "TrackWriter"),
    "read_tracks": ("livetrack.record", "read_tracks"),
    "bench": ("livetrack.bench", None),
    "evaluate": ("livetrack.evaluate", None),
    "link": ("livetrack.link", None),
    "localize": ("livetrack.localize", None),
    "protocols": ("livetrack.protocols", None),
    "record": ("livetrack.record", None),
    "registry": ("livetrack.registry", None),
    "simulate": ("livetrack.simulate", None),
}

__all__ = [
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


def __getattr__(name: str) -> Any:
    try:
        module_name, attr = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module 'livetrack' has no attribute {name!r}") from None
    module = importlib.import_module(module_name)
    value = module if attr is None else getattr(module, attr)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
