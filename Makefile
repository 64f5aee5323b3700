# Two entry points for a fresh machine: `make demo` and `make test`. Both create .venv idempotently.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
# ROS 2 must never multicast off the machine (DEVELOPERS.md network rule): loopback discovery, random domain.
export ROS_AUTOMATIC_DISCOVERY_RANGE := LOCALHOST
export ROS_DOMAIN_ID ?= $(shell $(PYTHON) -c "import random; print(random.randint(1, 100))")

.PHONY: venv demo test test-fast bench clean

venv: $(STAMP)

$(STAMP): setup.py setup.cfg package.xml
	@$(PYTHON) -c "import sys; sys.exit(0 if sys.version_info >= (3, 11) else 'rgbt-seg needs Python >= 3.11')"
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[ros,train,test]"
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/rgbt-seg model-info rsfnet50_18
	$(VENV)/bin/rgbt-seg bench reparam --iters 5

test: $(STAMP)
	$(PY) -m pytest

test-fast: $(STAMP)
	$(PY) -m pytest -m "not slow"

bench: $(STAMP)
	$(VENV)/bin/rgbt-seg bench reparam

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
