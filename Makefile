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

.PHONY: venv vision-msgs demo test test-fast test-all trace-test-fast bench gpu-check gpu-wheels clean

venv: $(STAMP)

# A regular (not editable) install: editable installs skip data_files, and ROS finds launch/config files and the
# `ros2 run` executable only under <prefix>/share and <prefix>/lib. Any packaged file changing re-installs.
SOURCES := Makefile setup.py setup.cfg package.xml README.md $(shell find rgbt_seg_core rgbt_seg_ros launch config scripts resource -type f -not -name '*.pyc' 2>/dev/null)

$(STAMP): $(SOURCES)
	@$(PYTHON) -c "import sys; sys.exit(0 if sys.version_info >= (3, 10) else 'rgbt-seg needs Python >= 3.10, found ' + sys.version.split()[0])"
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --no-cache-dir --upgrade pip
	rm -rf build  # setuptools' in-tree build folder would ship modules deleted since the last install
	@# No wheel cache: torch's CUDA build and its libraries are several GB, and pip would keep a second copy of every
	@# downloaded wheel in its cache (a CI disk once ran out while the second venv, 3.10, installed)
	$(PY) -m pip install --quiet --no-cache-dir ".[ros,train,onnx,openvino,mit,fleet,test]"
	$(MAKE) --no-print-directory vision-msgs
	touch $(STAMP)

# vision_msgs' LabelInfo and VisionClass (the node's ~/label_info), built into the venv from the ROS message
# toolchain wheels, and only where `import vision_msgs.msg` fails: an installed vision_msgs always wins. Needs cmake,
# a C/C++ compiler and the Python headers; without them it says so and the node runs without ~/label_info.
vision-msgs:
	$(PY) scripts/vision_msgs/build.py --optional

demo: $(STAMP)
	$(VENV)/bin/rgbt-seg demo --out demo_out
	$(PY) -m rgbt_seg_ros.demo_live demo_out  # the test split replayed live through the ROS node

# Two pytest-xdist workers: most tests use one core (ONNX tracing, hypothesis, DDS waits), so two at once nearly
# halve the suite on a 2-core machine. Each worker has its own ROS domain (test/conftest.py). Tests that share an
# expensive module fixture stay on one worker (xdist_group). JOBS=0 runs in one process, as .ci/run does for its two
# side-by-side suites, which keep both cores busy already.
JOBS ?= 2
XDIST := $(if $(filter 0,$(JOBS)),-p no:xdist,-n $(JOBS) --dist loadgroup)

test: $(STAMP)
	$(PY) -m pytest $(XDIST) -m "not exhaustive"

test-fast: $(STAMP)
	$(PY) -m pytest $(XDIST) -m "not slow"

# Everything, the depth variants of each model family too (test/core/models/test_all_models.py)
test-all: $(STAMP)
	$(PY) -m pytest $(XDIST)

# make test-fast under strace -f, with a fresh home and without the variables that would switch the runtimes'
# telemetry off for this run alone; fails on any DNS query or packet off the loopback (test/test_no_traffic.py's
# rules, which the suite applies to a smaller traced run)
TRACE := $(CURDIR)/.trace
trace-test-fast: $(STAMP)
	rm -rf $(TRACE) && mkdir -p $(TRACE)/home
	env -u CI -u ORT_DISABLE_TELEMETRY -u ORT_RUNNING_UNIT_TESTS HOME=$(TRACE)/home XDG_CACHE_HOME=$(TRACE)/home/.cache \
		strace -f -qq -v -s 64 --seccomp-bpf -e trace=connect,sendto,sendmsg,sendmmsg -e signal=none \
		-o $(TRACE)/strace.log $(PY) -m pytest $(XDIST) -m "not slow" -p no:cacheprovider; \
		status=$$?; $(PY) test/test_no_traffic.py $(TRACE)/strace.log $(TRACE)/home && exit $$status

bench: $(STAMP)
	$(VENV)/bin/rgbt-seg bench reparam

# On a bare CUDA machine with no network: the machine's own python3 and torch, plus the wheels of wheels/gpu_check
# (filled beforehand by `make gpu-wheels` on a machine with network). No .venv. Report: gpu_check_out/.
gpu-check:
	scripts/gpu_check.sh --out gpu_check_out

# Python 3.12 x86_64 wheels for gpu-check (scripts/gpu_check_wheels.txt, without dependencies: under 64 MiB)
gpu-wheels:
	$(PYTHON) -m pip download --no-deps --only-binary=:all: --implementation cp --python-version 3.12 \
		--platform manylinux2014_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux_2_28_x86_64 \
		--platform manylinux_2_34_x86_64 --platform manylinux_2_35_x86_64 --platform manylinux_2_39_x86_64 \
		-d wheels/gpu_check -r scripts/gpu_check_wheels.txt

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .gpu_check gpu_check_out .trace
