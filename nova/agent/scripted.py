"""A scripted LLM for text-mode tests and benchmarks (no provider, no network).

Each ``chat()`` call consumes the next step of the script:

- ``"text"``                         → the assistant says it
- ``call("tool", arg=...)``          → one tool call
- ``[call(...), call(...)]``         → parallel tool calls
- ``callable(chat_ctx) -> step``     → decide from the conversation so far

When the script runs out, the LLM answers ``default``. ``requests`` keeps every chat
context it was given (assert on instructions and tool results).
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from livekit.agents import llm
from livekit.agents.types import DEFAULT_API_CONNECT_OPTIONS

_ids = itertools.count(1)


@dataclass
class ToolCall:
    name: str
    arguments: dict[str, Any] = field(default_factory=dict)


def call(name: str, **arguments: Any) -> ToolCall:
    return ToolCall(name, arguments)


Step = str | ToolCall | Sequence[ToolCall] | Callable[[llm.ChatContext], Any]


class ScriptedLLM(llm.LLM):
    def __init__(self, script: Sequence[Step] = (), *, default: str = "Okay.") -> None:
        super().__init__()
        self.script: list[Step] = list(script)
        self.default = default
        self.requests: list[llm.ChatContext] = []
        self.tools_offered: list[list[str]] = []

    @property
    def model(self) -> str:
        return "scripted"

    @property
    def provider(self) -> str:
        return "nova-tests"

    def push(self, *steps: Step) -> None:
        self.script.extend(steps)

    def chat(
        self,
        *,
        chat_ctx: llm.ChatContext,
        tools: list[Any] | None = None,
        conn_options: Any = DEFAULT_API_CONNECT_OPTIONS,
        **_: Any,
    ) -> llm.LLMStream:
        self.requests.append(chat_ctx.copy())
        self.tools_offered.append(sorted(t.info.name for t in (tools or []) if hasattr(t, "info")))
        step: Any = self.script.pop(0) if self.script else self.default
        if callable(step) and not isinstance(step, ToolCall):
            step = step(chat_ctx)
        return _Stream(
            self, chat_ctx=chat_ctx, tools=tools or [], conn_options=conn_options, step=step
        )


class _Stream(llm.LLMStream):
    def __init__(self, owner: ScriptedLLM, *, step: Any, **kw: Any) -> None:
        super().__init__(owner, **kw)
        self._step = step

    async def _run(self) -> None:
        step = self._step
        rid = f"scripted-{next(_ids)}"
        if isinstance(step, str):
            delta = llm.ChoiceDelta(role="assistant", content=step)
        else:
            calls = [step] if isinstance(step, ToolCall) else list(step)
            delta = llm.ChoiceDelta(
                role="assistant",
                tool_calls=[
                    llm.FunctionToolCall(
                        name=c.name, arguments=json.dumps(c.arguments), call_id=f"{rid}-{i}"
                    )
                    for i, c in enumerate(calls)
                ],
            )
        self._event_ch.send_nowait(llm.ChatChunk(id=rid, delta=delta))
