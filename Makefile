# `make demo` and `make test` create .venv when it is missing and install derand with its
# pinned dependencies into it.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.derand-installed

.PHONY: demo test test-slow lint install wheel-check clean

# pyproject.toml states what derand needs (lower bounds); constraints.txt pins the exact
# versions we test with, the CPU build of torch included. The sources are byte-compiled (as a
# wheel install does: an editable install under PYTHONDONTWRITEBYTECODE=1 would recompile every
# module at every start). The install ends by compiling the Max-Cut kernels and the NN lab's
# training step into numba's cache, so that the first run does not compile on its budget.
$(STAMP): pyproject.toml constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'
	$(BIN)/python -m compileall -q src
	$(BIN)/python -m derand.maxcut.warmup
	$(BIN)/python -m derand.nn.warmup
	@touch $(STAMP)

# The search, SDP and rounding kernels compiled ahead of time (derand.maxcut.kernels), rebuilt
# when a source changes; a run whose module is missing or stale uses numba's JIT (the same
# code). A failed build (no C compiler) is reported and ignored.
AOT := src/derand/maxcut/_engine_aot.stamp
AOT_SOURCES := $(addprefix src/derand/,maxcut/engine.py maxcut/layout.py maxcut/kernels.py \
	sdp/_mixing.py rounding/_kernel.py core/_bvn.py)
$(AOT): $(AOT_SOURCES) | $(STAMP)
	-$(BIN)/python -m derand.maxcut.kernels
	@touch $(AOT)

install: $(STAMP) $(AOT)

demo: $(STAMP)
	$(BIN)/derand reproduce --quick --out results

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/mypy

test: lint $(AOT)
	$(BIN)/python -m pytest

test-slow: $(STAMP)
	$(BIN)/python -m pytest -m slow

# Build the wheel and install it into a clean venv that already holds other numpy/scipy
# versions: pip must keep them (lower bounds only) and the installed package must work.
wheel-check: $(STAMP)
	rm -rf build dist $(VENV)-wheel
	$(BIN)/python -m build --wheel --outdir dist . > /dev/null
	$(PYTHON) -m venv $(VENV)-wheel
	$(VENV)-wheel/bin/python -m pip install --quiet torch==2.13.0 numpy==2.3.5 scipy==1.16.3
	$(VENV)-wheel/bin/python -m pip install --quiet dist/derand-*.whl
	$(VENV)-wheel/bin/python -c "import numpy, scipy; assert (numpy.__version__, scipy.__version__) == ('2.3.5', '1.16.3'), (numpy.__version__, scipy.__version__)"
	$(VENV)-wheel/bin/python -c "import pathlib, derand; assert (pathlib.Path(derand.__file__).parent / 'py.typed').exists()"
	$(VENV)-wheel/bin/python -m derand.maxcut.warmup
	cd /tmp && $(CURDIR)/$(VENV)-wheel/bin/derand maxcut gset:G11 --time-limit 5 --quiet
	cd /tmp && $(CURDIR)/$(VENV)-wheel/bin/derand jl digits --k 10 --iters 50 --quiet
	rm -rf build dist $(VENV)-wheel

clean:
	rm -rf $(VENV) $(VENV)-wheel build dist results .pytest_cache .mypy_cache .ruff_cache
