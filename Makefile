# Two entry points on a fresh clone: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: setup demo test lint bench wheel-check

$(STAMP): pyproject.toml requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	touch $(STAMP)

setup: $(STAMP)

# The main job: live tracking of the simulated microscope, recorded to demo-output/.
demo: $(STAMP)
	rm -f demo-output/tracks.csv
	$(VENV)/bin/livetrack demo --headless --frames 300 --out demo-output

test: $(STAMP)
	QT_QPA_PLATFORM=offscreen $(PY) -m pytest
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports
	$(VENV)/bin/mypy livetrack/
	PY=$(PY) bash .ci/wheel_check.sh

# A user's install: the wheel in a new environment, base dependencies only (part of test).
wheel-check: $(STAMP)
	PY=$(PY) bash .ci/wheel_check.sh

bench: $(STAMP)
	$(VENV)/bin/livetrack bench accuracy --out bench-output
	$(VENV)/bin/livetrack bench speed --out bench-output
	$(VENV)/bin/livetrack bench live --soak 20000 --json bench-output/live.json
	$(VENV)/bin/livetrack bench real --out bench-output
