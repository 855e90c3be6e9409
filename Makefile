# The two commands of README.md: `make demo` (main job on the bundled sample) and `make test`.
# Both create/refresh .venv first (scripts/setup.sh is idempotent and prints its progress).
SHELL := /bin/bash
VENV := .venv
BIN := $(VENV)/bin
DEMO_OUT ?= out/demo

.PHONY: setup demo test lint clean

setup:
	@bash scripts/setup.sh

# The node in a real ROS graph: the bundled real clip (samples/bedroom, Apache-2.0) becomes a rosbag2,
# a replayer process publishes it, the node (default learned profile) segments the girl, a recorder
# process writes its outputs.
demo: setup
	@$(BIN)/parse-vos bag demo --frames samples/bedroom --command "0.0:the girl in the blue skirt jumping on the bed" \
	  --out $(DEMO_OUT)

lint: setup
	@echo "==> ruff"
	@$(BIN)/ruff check src tests benchmarks scripts launch

test: lint
	@echo "==> pytest"
	@$(BIN)/python -m pytest -q

clean:
	rm -rf ros2_ws/build ros2_ws/install ros2_ws/log out
