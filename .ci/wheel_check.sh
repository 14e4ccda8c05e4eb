#!/usr/bin/env bash
# A user's install, not the developers': build the wheel, install it without -e into a new
# virtual environment (base dependencies only, from the registry or pip's cache), and from
# a folder outside the repository track a simulated movie with a shipped model.
#
# Checks that the wheel carries the models (found in site-packages, not the checkout),
# that the base install has none of the extras (torch, onnx, matplotlib, Micro-Manager),
# that inference imports none of them, and that a command needing an extra says which.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
py="${PY:-$root/.venv/bin/python}"
work="$(mktemp -d "${TMPDIR:-/tmp}/livetrack-wheel.XXXXXX")"
trap 'rm -rf "$work"' EXIT
start=$SECONDS

# Build from a copy of the files git would ship: setuptools' build/ folder in the checkout
# could otherwise carry modules deleted since into the wheel.
mkdir "$work/src"
(cd "$root" && git ls-files -z --cached --others --exclude-standard \
    | tar --null --ignore-failed-read -T - -cf - 2>/dev/null) | tar -xf - -C "$work/src"
# pip's log is shown only when it fails: this machine's pip config makes it warn about
# every package otherwise.
pip_quiet() {
    "$@" --quiet > "$work/pip.log" 2>&1 || { cat "$work/pip.log" >&2; return 1; }
}
pip_quiet "$py" -m pip wheel --no-deps --no-build-isolation -w "$work/dist" "$work/src"
wheel="$(ls "$work"/dist/livetrack-*.whl)"
echo "wheel: $(basename "$wheel"), $(du -k "$wheel" | cut -f1) KiB"

# A new environment from the base interpreter, not --system-site-packages: it sees nothing
# of the project's venv.
"$py" -m venv "$work/venv"
venv_py="$work/venv/bin/python"
pip_quiet "$venv_py" -m pip install --disable-pip-version-check "$wheel"
echo "base install: $(du -sh "$work/venv" | cut -f1) (virtual environment with pip)"

mkdir "$work/run"
cd "$work/run"
"$venv_py" - <<'EOF'
import importlib.util

extras = ("torch", "onnx", "matplotlib", "pymmcore_plus", "pycromanager", "psutil", "PyQt6")
installed = [m for m in extras if importlib.util.find_spec(m) is not None]
assert not installed, f"the base install pulled extras: {installed}"
EOF

# The models come from the installed package.
"$work/venv/bin/livetrack" models > models.txt
grep -q "spots .*shipped .*$work/venv/" models.txt || {
    cat models.txt
    echo "wheel check: the spots model is not found in the installed package" >&2
    exit 1
}

"$venv_py" - <<'EOF'
from livetrack import simulate

movie = simulate.simulate_movie(
    n_frames=10,
    shape=(128, 128),
    n_particles=20,
    snr=6.0,
    seed=7,
    dynamics=simulate.Dynamics(diffusion_px2=0.5),
)
simulate.write_movie(movie, "movie.tif")
EOF
"$work/venv/bin/livetrack" track movie.tif -o tracks.csv --model spots

"$venv_py" - <<'EOF'
import sys

import pandas as pd

from livetrack import evaluate

tracks = pd.read_csv("tracks.csv", comment="#")
truth = pd.read_csv("movie.truth.csv")
truth = truth[truth["visible"] & truth["in_frame"]]
s = evaluate.score(truth, tracks, gate_px=2.0)
print(f"tracked {len(tracks)} positions, {tracks['particle'].nunique()} tracks, "
      f"Jaccard {s.jaccard:.3f}, RMSE {s.rmse:.3f} px against the simulation's truth")
assert s.jaccard > 0.9 and s.rmse < 0.3, "the shipped model tracked badly from the wheel"

import livetrack

livetrack.locate(livetrack.simulate.simulate_movie(n_frames=1, seed=1).frames)
heavy = sorted({m.split(".")[0] for m in sys.modules} & {"torch", "onnx", "matplotlib"})
assert not heavy, f"inference imported {heavy}"
EOF

# A command that needs an extra says which, in one line.
if "$work/venv/bin/livetrack" train "$root/calibration/spots/recipe.toml" -o x 2> err.txt; then
    echo "wheel check: training ran without torch" >&2
    exit 1
fi
grep -q "livetrack\[train\]" err.txt && [ "$(wc -l < err.txt)" -eq 1 ] || {
    cat err.txt
    echo "wheel check: a missing extra did not give one line naming it" >&2
    exit 1
}
echo "wheel check passed in $((SECONDS - start)) s"
