"""OpenAI-compatible chat completions over HTTP (llama.cpp server, vLLM, Ollama, ...).

Lets a robot offload the 8B model to a GPU server. Standard library only. One deadline covers
the whole call (all attempts and back-off sleeps); the request runs in a worker thread whose
socket is shut down when the deadline passes or the cancel event is set, so neither a stalled
server nor a slow trickle of bytes can hold the caller. Connection failures, 5xx and 429 are
retried with exponential back-off; other 4xx are configuration errors and are not.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import socket
import threading
import urllib.parse
from typing import Any

from parse_vos_ros.config import Config
from parse_vos_ros.llm.base import Deadline, LLMError, LLMRuntime, Messages, Schema
from parse_vos_ros.llm.grammar import LLMOutputError
from parse_vos_ros.llm.retry import RetryableError, call_with_retries

POLL_S = 0.02  # how often the waiting caller checks the deadline and the cancel event


class OpenAIRuntime(LLMRuntime):
    """``LLMRuntime`` over ``POST {base_url}/chat/completions``.

    Args:
        base_url: e.g. ``http://127.0.0.1:8080/v1``.
        model: model name sent to the server.
        api_key: bearer token, or None.
        max_retries: extra attempts after the first.
        retry_backoff_s: first back-off delay, doubled per retry.
        temperature: sampling temperature.
        response_format: ``json_schema`` (OpenAI / vLLM / llama.cpp server) or ``json_object``
            with an embedded schema (llama-cpp-python's server).
        max_response_bytes: larger response bodies are rejected.
    """

    def __init__(
        self,
        base_url: str,
        model: str = "default",
        *,
        api_key: str | None = None,
        max_retries: int = 2,
        retry_backoff_s: float = 0.25,
        temperature: float = 0.0,
        response_format: str = "json_schema",
        max_response_bytes: int = 1_000_000,
    ) -> None:
        url = urllib.parse.urlsplit(base_url)
        if url.scheme not in ("http", "https") or not url.hostname:
            raise LLMError(f"llm.base_url must be an http(s) URL, got {base_url!r}")
        self.scheme = url.scheme
        self.host = url.hostname
        self.port = url.port or (443 if url.scheme == "https" else 80)
        self.path = url.path.rstrip("/") + "/chat/completions"
        self.model = model
        self.api_key = api_key
        self.max_retries = max_retries
        self.retry_backoff_s = retry_backoff_s
        self.temperature = temperature
        self.response_format = response_format
        self.max_response_bytes = max_response_bytes

    @classmethod
    def from_config(cls, config: Config) -> OpenAIRuntime:
        c = config.llm
        return cls(
            c.base_url,
            c.model,
            api_key=os.environ.get(c.api_key_env) or None,
            max_retries=c.max_retries,
            retry_backoff_s=c.retry_backoff_s,
            temperature=c.temperature,
            response_format=c.response_format,
            max_response_bytes=c.max_response_bytes,
        )

    def _format(self, schema: Schema) -> dict[str, Any]:
        if self.response_format == "json_object":
            return {"type": "json_object", "schema": dict(schema)}
        return {"type": "json_schema", "json_schema": {"name": "answer", "schema": dict(schema), "strict": True}}

    def _complete(self, messages: Messages, schema: Schema, max_tokens: int, deadline: Deadline) -> str:
        """The assistant message content of a schema-constrained chat completion.

        Raises:
            LLMError: unreachable after all retries, timed out, cancelled, HTTP error, or a
                response that is not an OpenAI chat completion.
            LLMOutputError: the server stopped at ``max_tokens``.
        """
        body = json.dumps(
            {
                "model": self.model,
                "messages": [dict(m) for m in messages],
                "max_tokens": max_tokens,
                "temperature": self.temperature,
                "response_format": self._format(schema),
            }
        ).encode("utf-8")
        status, data = call_with_retries(
            lambda: self._post(body, deadline),
            deadline,
            max_retries=self.max_retries,
            backoff_s=self.retry_backoff_s,
            target=f"{self.host}:{self.port}",
        )
        return self._content(status, data, max_tokens)

    def _post(self, body: bytes, deadline: Deadline) -> tuple[int, bytes]:
        remaining = deadline.remaining()
        if remaining <= 0:
            raise deadline.timed_out()
        cls = http.client.HTTPSConnection if self.scheme == "https" else http.client.HTTPConnection
        conn = cls(self.host, self.port, timeout=remaining)
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        outcome: dict[str, Any] = {}
        done = threading.Event()

        def work() -> None:
            try:
                conn.request("POST", self.path, body, headers)
                resp = conn.getresponse()
                outcome["status"] = resp.status
                outcome["data"] = resp.read(self.max_response_bytes + 1)
            except (OSError, http.client.HTTPException) as exc:
                outcome["error"] = exc
            finally:
                done.set()

        worker = threading.Thread(target=work, name="parse-vos-llm-http", daemon=True)
        worker.start()
        try:
            while not done.wait(POLL_S):
                deadline.check(f" waiting for {self.host}:{self.port}")
        finally:
            if not done.is_set():
                _abort(conn)  # unblocks the worker's recv; it then exits on the socket error
            conn.close()
        if "error" in outcome:
            exc = outcome["error"]
            raise RetryableError(f"{type(exc).__name__}: {exc}")
        status, data = outcome["status"], outcome["data"]
        if status == 429 or status >= 500:
            raise RetryableError(f"HTTP {status}: {data[:200]!r}")
        return status, data

    def _content(self, status: int, data: bytes, max_tokens: int) -> str:
        if len(data) > self.max_response_bytes:
            raise LLMError(f"response larger than {self.max_response_bytes} bytes")
        if status != 200:
            raise LLMError(f"HTTP {status} from {self.host}:{self.port}: {data[:200]!r}")
        try:
            reply = json.loads(data)
            choice = reply["choices"][0]
            content = choice["message"]["content"]
        except (ValueError, KeyError, IndexError, TypeError):
            raise LLMError(f"not an OpenAI chat completion: {data[:120]!r}") from None
        if not isinstance(content, str):
            raise LLMError(f"message content is {type(content).__name__}, not text")
        if choice.get("finish_reason") == "length":
            raise LLMOutputError(f"output truncated at max_tokens={max_tokens} before the JSON closed")
        return content


def _abort(conn: http.client.HTTPConnection) -> None:
    sock = conn.sock
    if sock is not None:
        with contextlib.suppress(OSError):  # already closed by the peer
            sock.shutdown(socket.SHUT_RDWR)
