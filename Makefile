# Three commands: `make lab` (explore the notebooks), `make reproduce` (run every notebook, write a report)
# and `make test`.
# All three create the virtual environment .venv when it is missing.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
PROFILE ?=
ONLY    ?=
PORT    ?=

.PHONY: lab reproduce test env clean-env

env: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $@

# JupyterLab on notebooks/ with the kernel "Python (lrlib)" (this environment); override: make lab PORT=8890
lab: env
	$(BIN)/lrlib lab $(if $(PORT),--port $(PORT))

# Execute the notebooks into runs/<date>-<profile>/ and write REPORT.md there.
# quick on a CUDA GPU; else cpu (missing data fetched when online; offline, smoke with a warning in the report);
# override: make reproduce PROFILE=cpu ONLY=01
reproduce: env
	$(BIN)/lrlib reproduce $(if $(PROFILE),--profile $(PROFILE)) $(if $(ONLY),--only $(ONLY))

# Unit tests, then every notebook under nbval with the smoke profile (CPU, seconds).
test: env
	$(BIN)/python -m pytest -p no:cacheprovider --nbval-lax --nbval-current-env --nbval-cell-timeout=600

clean-env:
	rm -rf $(VENV)
