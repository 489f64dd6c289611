# AbVLM-Q. `make run` and `make test` work on a fresh machine with only Python 3.11:
# they create .venv and install what they need.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: help install run test test-web test-fast lint format bench clean demo-model

help:
	@echo "make run    - bring up the application on its embedded default"
	@echo "make test   - lint, then run every test"
	@echo "make lint   - ruff check and format check"
	@echo "make format - ruff fix and format"
	@echo "make bench  - benchmarks, printed as ratios against a baseline"
	@echo "make demo-model - train the tiny demo model on phantoms (~30 min on 2 cores)"

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

test-fast: $(STAMP)
	$(PY) -m pytest -x -q -m "not slow"

run: $(STAMP)
	@bash scripts/run.sh

bench: $(STAMP)
	$(PY) -m bench

# The committed demo model (models/demo/): phantoms with fixed seeds, a tiny Qwen2-VL trained
# from scratch on 2 CPU cores within a time budget, evaluated on a held-out phantom set.
DEMO := artifacts/demo
demo-model: $(STAMP)
	rm -rf $(DEMO)/run
	# the phantoms are seeded: a folder already holding them is reused
	test -f $(DEMO)/train-24000/annotations.jsonl || { rm -rf $(DEMO)/train-24000 && \
		$(PY) -m trainer.phantoms --out $(DEMO)/train-24000 --count 24000 --seed 1 --size 224 --workers 2; }
	test -f $(DEMO)/test/annotations.jsonl || { rm -rf $(DEMO)/test && \
		$(PY) -m trainer.phantoms --out $(DEMO)/test --count 400 --seed 2 --size 224 --workers 2; }
	$(PY) -m trainer fit --config trainer/configs/demo_tiny.yaml
	rm -rf models/demo && mkdir -p models && cp -r $(DEMO)/run/final models/demo
	$(PY) -m trainer evaluate --model models/demo --data $(DEMO)/test/annotations.jsonl \
		--out models/demo/eval

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache artifacts
