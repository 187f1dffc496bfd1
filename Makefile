# make run: the whole system on this machine.  make test: the suite against real servers.
# make test-containers: the image and docker-compose.yml for real under Podman (CI runs it).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export TART_ENV ?= dev

.PHONY: run test test-containers install servers migrate admin lint format bench docs clean

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

servers:
	scripts/ensure-servers.sh

migrate: install servers
	$(BIN)/tart migrate

admin: migrate
	@$(BIN)/tart create-admin --if-none

# Logs for humans here; the image and the compose file keep JSON lines.
run: export TART_LOG_FORMAT ?= console
run: migrate admin
	@mkdir -p .run
	@echo "tart-mailer starting:"
	@echo "  API      http://127.0.0.1:$${TART_API_PORT:-8000}/docs"
	@echo "  public   http://127.0.0.1:$${TART_PUBLIC_PORT:-8001}"
	@echo "  admin    http://127.0.0.1:$${TART_ADMIN_PORT:-8002}"
	@echo "  metrics  workers on :9101-9107; caught mail in .run/mail/new"
	@echo "  Ctrl-C stops everything."
	PATH=$(abspath $(BIN)):$$PATH $(BIN)/honcho start -f Procfile

test: install servers
	scripts/ensure-test-deps.sh
	$(BIN)/pytest $(PYTEST_ARGS)

# Builds the image, runs the compose stack, sends a campaign through a crash: tests/containers.
test-containers: install
	scripts/ensure-container-tools.sh
	$(BIN)/python -m tests.containers.stack

lint: install
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .
	$(BIN)/mypy shared services

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

docs: install
	$(BIN)/python -m scripts.update_readme_settings

bench: install servers
	for b in bench/*.py; do $(BIN)/python $$b || exit 1; done

clean:
	rm -rf .run .pytest_cache .mypy_cache .ruff_cache
