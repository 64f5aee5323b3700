# Two entry points for a fresh machine: `make demo` and `make test`. Both create .venv idempotently.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
# ROS 2 must never multicast off the machine: loopback discovery (Jazzy and later read the first variable, Humble
# the second), random domain.
export ROS_AUTOMATIC_DISCOVERY_RANGE := LOCALHOST
export ROS_LOCALHOST_ONLY := 1
export ROS_DOMAIN_ID ?= $(shell $(PYTHON) -c "import random; print(random.randint(1, 100))")

.PHONY: venv demo test test-fast bench clean

venv: $(STAMP)

# A regular (not editable) install: editable installs skip data_files, and ROS finds launch/config files and the
# `ros2 run` executable only under <prefix>/share and <prefix>/lib. Any packaged file changing re-installs.
SOURCES := Makefile setup.py setup.cfg package.xml README.md $(shell find rgbt_seg_core rgbt_seg_ros launch config scripts resource -type f -not -name '*.pyc' 2>/dev/null)

$(STAMP): $(SOURCES)
	@$(PYTHON) -c "import sys; sys.exit(0 if sys.version_info >= (3, 10) else 'rgbt-seg needs Python >= 3.10, found ' + sys.version.split()[0])"
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	rm -rf build  # setuptools' in-tree build folder would ship modules deleted since the last install
	$(PY) -m pip install --quiet ".[ros,train,onnx,openvino,mit,test]"
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/rgbt-seg demo --out demo_out
	$(PY) -m rgbt_seg_ros.demo_live demo_out  # the test split replayed live through the ROS node

test: $(STAMP)
	$(PY) -m pytest

test-fast: $(STAMP)
	$(PY) -m pytest -m "not slow"

bench: $(STAMP)
	$(VENV)/bin/rgbt-seg bench reparam

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
