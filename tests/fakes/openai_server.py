"""An OpenAI-compatible HTTP peer on loopback for the real ``openai`` client.

``chat`` decides each /v1/chat/completions answer: return a string (the assistant content),
a dict (a full response or {"status": 500, "error": {...}} to fail), or raise. Requests are
recorded. ``delay`` simulates a slow model. A request with ``"stream": true`` (what livekit's
openai plugin sends) gets the same answer as server-sent ``chat.completion.chunk`` events:
the content word by word, each tool call in one delta, then the usage chunk. Extra routes (files, fine_tuning) can be added
with ``route(method, path, handler)``.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from tests.fakes.base import LoopbackServer

ChatFn = Callable[[dict[str, Any]], Any]


def chat_response(content: str | None, model: str = "fake-model", **message: Any) -> dict:
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex[:12]}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content, **message},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 10, "completion_tokens": 10, "total_tokens": 20},
    }


class FakeOpenAI(LoopbackServer):
    def __init__(self, chat: ChatFn | None = None, delay: float = 0.0) -> None:
        self.chat: ChatFn = chat or (lambda body: "ok")
        self.delay = delay
        self.requests: list[dict[str, Any]] = []
        self.extra: dict[
            tuple[str, str], Callable[[web.Request], Awaitable[web.StreamResponse]]
        ] = {}

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def route(self, method: str, path: str, handler) -> None:
        self.extra[(method.upper(), path)] = handler

    def build_app(self) -> web.Application:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._dispatch)
        return app

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        path = "/" + request.match_info["tail"]
        handler = self.extra.get((request.method, path))
        if handler is not None:
            return await handler(request)
        if request.method == "POST" and path == "/v1/chat/completions":
            return await self._chat(request)
        return web.json_response({"error": {"message": f"no route {path}"}}, status=404)

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        self.requests.append(body)
        if self.delay:
            await asyncio.sleep(self.delay)
        result = self.chat(body)
        if asyncio.iscoroutine(result):
            result = await result
        if isinstance(result, str):
            result = chat_response(result, model=body.get("model", "fake-model"))
        status = result.pop("status", 200) if isinstance(result, dict) else 200
        if status == 200 and body.get("stream"):
            return await self._stream(request, result)
        return web.Response(status=status, body=json.dumps(result), content_type="application/json")

    async def _stream(self, request: web.Request, result: dict[str, Any]) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)
        for chunk in stream_chunks(result):
            await resp.write(b"data: " + json.dumps(chunk).encode() + b"\n\n")
        await resp.write(b"data: [DONE]\n\n")
        await resp.write_eof()
        return resp


def stream_chunks(result: dict[str, Any]) -> list[dict[str, Any]]:
    """A full chat.completion answer as the chunks of a streamed one."""
    message = result["choices"][0]["message"]
    base = {"id": result["id"], "object": "chat.completion.chunk", "created": result["created"]}
    base["model"] = result["model"]

    def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return {**base, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}

    chunks = [chunk({"role": "assistant", "content": ""})]
    words = (message.get("content") or "").split(" ")
    chunks += [chunk({"content": w if i == 0 else " " + w}) for i, w in enumerate(words) if w]
    for i, call in enumerate(message.get("tool_calls") or []):
        chunks.append(chunk({"tool_calls": [{"index": i, **call}]}))
    chunks.append(chunk({}, "tool_calls" if message.get("tool_calls") else "stop"))
    chunks.append({**base, "choices": [], "usage": result.get("usage")})
    return chunks


def tool_call(name: str, **arguments: Any) -> dict[str, Any]:
    """One entry of an assistant message's ``tool_calls``."""
    return {
        "id": f"call_{uuid.uuid4().hex[:12]}",
        "type": "function",
        "function": {"name": name, "arguments": json.dumps(arguments)},
    }
