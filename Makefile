# dagwright needs Python >= 3.11: take the newest such interpreter on PATH, python3 last
# (often older on LTS systems). PYTHON=/path/to/python overrides the search.
PYTHON_CANDIDATES := python3.13 python3.12 python3.11 python3
ifeq ($(origin PYTHON),undefined)
PYTHON := $(shell for p in $(PYTHON_CANDIDATES); do \
	if command -v $$p >/dev/null 2>&1 && \
		$$p -c 'import sys; sys.exit(sys.version_info < (3, 11))' >/dev/null 2>&1; then \
		echo $$p; break; fi; done)
endif
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo test lint bench compare api-snapshot clean

ifeq ($(strip $(PYTHON)),)
$(BIN)/python:
	@echo "error: no Python >= 3.11 found on PATH (tried: $(PYTHON_CANDIDATES))." >&2
	@echo "Install one, or name it: make $(or $(MAKECMDGOALS),demo) PYTHON=/path/to/python3.11" >&2
	@exit 1
else
$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
endif

# A new run id per `make demo` (runs are kept in the store, and an id is never reused);
# DEMO_RUN=... names one.
DEMO_RUN ?= demo-$(shell date +%Y%m%d-%H%M%S 2>/dev/null)
DEMO_INPUT := {"question": "How does dependency-driven scheduling keep workers busy?"}
# Where the demo writes the flows it mines from examples/traces/ (replaced each time).
DEMO_MINED := .dagwright/mined

demo: $(BIN)/python
	$(BIN)/python -m pip install -q -e ".[cli,mcp]"
	$(BIN)/dagwright run examples/pipeline.flow.yaml examples/summarize.flow.yaml \
		--run-id $(DEMO_RUN) --input '$(DEMO_INPUT)'
	$(BIN)/dagwright runs show $(DEMO_RUN)
	$(BIN)/dagwright runs verify $(DEMO_RUN) examples/pipeline.flow.yaml examples/summarize.flow.yaml
	$(BIN)/dagwright lint examples/*.flow.yaml --tools examples.pipeline_tools \
		--tools examples.crash_tools
	$(BIN)/python examples/mcp_client_demo.py
	rm -rf $(DEMO_MINED)
	$(BIN)/dagwright mine examples/traces --tools examples.pipeline_tools -o $(DEMO_MINED)
	$(BIN)/dagwright lint $(DEMO_MINED) --tools examples.pipeline_tools

test: $(BIN)/python
	$(BIN)/python -m pip install -q -e ".[dev]"
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/pytest

bench: $(BIN)/python
	$(BIN)/python -m pip install -q -e ".[dev]"
	$(BIN)/pytest benchmarks --benchmark-enable --benchmark-only -p no:cacheprovider

# DESIGN.md section 7's figures on dagwright, the floor and the peers that are installed
# (ChainWeaver, LangGraph: never installed here); COMPARE_ARGS="--quick --only linear5".
compare: $(BIN)/python
	$(BIN)/python -m pip install -q -e ".[dev]"
	$(BIN)/python benchmarks/compare.py $(COMPARE_ARGS)

# Regenerate tests/fixtures/public_api.json after a deliberate change of the public API.
api-snapshot: $(BIN)/python
	$(BIN)/python -m pip install -q -e ".[dev]"
	$(BIN)/python -m tests.api_snapshot

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .benchmarks
