"""Without the viewer extra, the viewer's Qt names say which extra to install (no Qt needed)."""

import subprocess
import sys

CODE = """
import sys
sys.modules["PyQt6"] = None  # as if PyQt6 were not installed
import livetrack.viewer as viewer
viewer.TailBuffer(5)  # the numpy side works without Qt
try:
    viewer.LiveViewer
except ImportError as exc:
    print(type(exc).__name__, exc)
"""


def test_the_viewer_names_its_extra_when_qt_is_missing():
    out = subprocess.run([sys.executable, "-c", CODE], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == (
        "MissingExtraError the live viewer (livetrack.viewer) needs PyQt6, which is not "
        "installed: pip install 'livetrack[viewer]'"
    )
