# AbVLM-Q. `make run` and `make test` work on a fresh machine with only Python 3.11:
# they create .venv and install what they need.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: help install run status test test-serving test-web test-fast lint format bench clean demo-model

help:
	@echo "make run    - bring up the application on its embedded default"
	@echo "make status - the state of each process of a running make run"
	@echo "make test   - lint, then run every test"
	@echo "make test-serving - the vLLM backend against the real server (creates .venv-vllm)"
	@echo "make lint   - ruff check and format check"
	@echo "make format - ruff fix and format"
	@echo "make bench  - benchmarks, printed as ratios against a baseline"
	@echo "make demo-model - baselines + the tiny demo model on phantoms (~2 h on 2 cores, resumable)"

$(STAMP): pyproject.toml
	@test -n "$(PYTHON)" || { echo "error: python3.11 not found" >&2; exit 1; }
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[ml,dev]'
	@touch $(STAMP)

install: $(STAMP)

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(STAMP)
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

test: lint
	bash scripts/test.sh

test-web: $(STAMP)
	bash scripts/test.sh tests/web

# the serving engine's tests against the real vLLM server (.venv-vllm, created once: a few GB)
test-serving: $(STAMP)
	bash -c 'PYTHON=$(PYTHON) VAR=var source scripts/vllm.sh && ensure_vllm'
	ABVLMQ_TEST_VLLM=1 bash scripts/test.sh -m vllm

test-fast: $(STAMP)
	$(PY) -m pytest -x -q -m "not slow"

# setpriv --pdeathsig: run.sh (and through it everything it started) stops when make dies,
# even by SIGKILL
run: $(STAMP)
	@setpriv --pdeathsig TERM bash scripts/run.sh

status: $(STAMP)
	@bash scripts/status.sh

bench: $(STAMP)
	$(PY) -m bench

# The committed demo model (models/demo/): seeded phantoms, the CNN baselines, a tiny Qwen2-VL
# trained from scratch in two stages on 2 CPU cores (about 2 hours; resumes where a run cut
# short stopped), evaluated on held-out and fresh-seed phantoms; the better model is committed.
demo-model: $(STAMP)
	PY=$(PY) bash scripts/demo_model.sh

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache artifacts
