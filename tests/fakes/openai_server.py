"""An OpenAI-compatible HTTP peer on loopback for the real ``openai`` client.

``chat`` decides each /v1/chat/completions answer: return a string (the assistant content),
a dict (a full response or {"status": 500, "error": {...}} to fail), or raise. Requests are
recorded. ``delay`` simulates a slow model. A request with ``stream: true`` gets the same
answer as server-sent chunks (what livekit's OpenAI plugin asks for). Extra routes (files, fine_tuning) can be added
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
        if body.get("stream") and status == 200:
            return await self._stream(request, result)
        return web.Response(status=status, body=json.dumps(result), content_type="application/json")

    async def _stream(self, request: web.Request, result: dict) -> web.StreamResponse:
        """``stream=true``: the same answer as server-sent chunks, as the API streams it
        (role and content, then tool calls, the finish reason, and the usage last)."""
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)
        base = {"id": result["id"], "object": "chat.completion.chunk", "created": result["created"]}
        base["model"] = result["model"]
        choice = result["choices"][0]
        message = choice["message"]

        async def send(choices: list, **extra: Any) -> None:
            payload = json.dumps({**base, "choices": choices, **extra})
            await resp.write(f"data: {payload}\n\n".encode())

        delta: dict[str, Any] = {"role": "assistant", "content": message.get("content") or ""}
        await send([{"index": 0, "delta": delta, "finish_reason": None}])
        for i, tc in enumerate(message.get("tool_calls") or []):
            tool_delta = {"tool_calls": [{"index": i, **tc}]}
            await send([{"index": 0, "delta": tool_delta, "finish_reason": None}])
        await send([{"index": 0, "delta": {}, "finish_reason": choice.get("finish_reason")}])
        if (body_usage := result.get("usage")) is not None:
            await send([], usage=body_usage)
        await resp.write(b"data: [DONE]\n\n")
        await resp.write_eof()
        return resp
