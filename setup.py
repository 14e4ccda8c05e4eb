"""Package list for setuptools (everything else is in pyproject.toml).

The shipped models live in ``calibration/`` at the repository root and install as the
package ``livetrack._shipped``. pyproject.toml's ``packages.find`` cannot add a package
that lies outside ``livetrack/``, so the list is made here: every ``livetrack`` package
found on disk, plus that one mapped onto ``calibration/``.
"""

from setuptools import find_packages, setup

setup(
    packages=[*find_packages(include=["livetrack", "livetrack.*"]), "livetrack._shipped"],
    package_dir={"livetrack._shipped": "calibration"},
)
