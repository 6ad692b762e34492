# Two commands do everything on a fresh machine: `make run` and `make test`.
# Both install into .venv first; when everything is installed already that takes a second.

SHELL   := /bin/bash
VENV    := .venv
PY      := $(VENV)/bin/python
STAMP   := $(VENV)/.installed-stamp
HOST    ?= 127.0.0.1
PORT    ?= 8000
PYTEST_ARGS ?=

.PHONY: install run test lint bench clean

$(PY):
	python3 -m venv $(VENV)

# torch first, pinned: a bare `torch` requirement would pull the multi-GB CUDA build.
$(STAMP): pyproject.toml | $(PY)
	$(PY) -c "import torch, torchvision" 2>/dev/null || $(PY) -m pip install --quiet torch==2.14.1 torchvision==0.29.1
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

# The API on $(HOST):$(PORT) and one worker beside it, both on the SQLite file
# ./hpadvisor.db (HPADVISOR_DATABASE_URL to change it); Ctrl-C stops both.
run: install
	$(VENV)/bin/hpadvisor db upgrade
	$(VENV)/bin/hpadvisor worker & worker=$$!; \
	trap 'kill $$worker 2>/dev/null' EXIT INT TERM; \
	$(VENV)/bin/hpadvisor serve --host $(HOST) --port $(PORT)

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy --strict advisor

test: install lint
	bash scripts/install-browser.sh
	env $$(bash scripts/test-services.sh) $(PY) -m pytest $(PYTEST_ARGS)

bench: install
	$(PY) bench/advisor.py
	$(PY) bench/recipe_agreement.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
