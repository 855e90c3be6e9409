# The two commands of README.md: `make demo` (main job on the bundled sample) and `make test`.
# Both create/refresh .venv first (scripts/setup.sh is idempotent and prints its progress).
SHELL := /bin/bash
VENV := .venv
BIN := $(VENV)/bin
DEMO_OUT ?= out/demo

.PHONY: setup demo test lint clean

setup:
	@bash scripts/setup.sh

demo: setup
	@$(BIN)/parse-vos segment samples/demo --command "the ball moving to the right" --out $(DEMO_OUT)

lint: setup
	@echo "==> ruff"
	@$(BIN)/ruff check src tests benchmarks scripts launch

test: lint
	@echo "==> pytest"
	@$(BIN)/python -m pytest -q

clean:
	rm -rf ros2_ws/build ros2_ws/install ros2_ws/log out
