# Two commands: `make reproduce` (run every notebook, write a report) and `make test`.
# Both create the virtual environment .venv when it is missing.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
PROFILE ?=
ONLY    ?=

.PHONY: reproduce test env clean-env

env: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $@

# Execute the notebooks into runs/<date>-<profile>/ and write REPORT.md there.
# quick on a CUDA GPU, smoke otherwise; override: make reproduce PROFILE=paper ONLY=01
reproduce: env
	$(BIN)/lrlib reproduce $(if $(PROFILE),--profile $(PROFILE)) $(if $(ONLY),--only $(ONLY))

# Unit tests, then every notebook under nbval with the smoke profile (CPU, seconds).
test: env
	$(BIN)/python -m pytest -p no:cacheprovider --nbval-lax --nbval-current-env --nbval-cell-timeout=600

clean-env:
	rm -rf $(VENV)
