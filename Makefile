PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOSO := $(BIN)/hoso
DEMO_PEOPLE ?= 2000
export HOSO_CIPHER_KEY_FILE ?= var/cipher.key

.PHONY: run test lint bench-append clean-var

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test,dev]'
	touch $@

run: export HOSO_BACKUP_KEY_FILE ?= var/backup.key
run: export HOSO_KEYSTORE_PASSPHRASE ?= hoso-demo-kyso-2026
run: $(VENV)/.installed
	$(HOSO) init
	$(HOSO) demo --people $(DEMO_PEOPLE) --seed 1 --if-empty
	$(HOSO) serve

test: $(VENV)/.installed
	$(BIN)/pytest

lint: $(VENV)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

clean-var:
	rm -rf var
