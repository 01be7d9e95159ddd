"""The LLM judge: one structured-output chat completion per transcript, validated strictly.

Any OpenAI-compatible endpoint works (``OPENAI_API_KEY`` / ``OPENAI_BASE_URL``). The SDK's
own retries are off: the scoring task retries with its own backoff and records every
attempt.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
from typing import Any

import openai
from openai import AsyncOpenAI
from pydantic import ValidationError

from nova.core.settings import Settings
from nova.quality import rubric
from nova.quality.schemas import Judgement, QualityScore

NOT_CONFIGURED = "judge not configured: set OPENAI_API_KEY or OPENAI_BASE_URL; scores stay pending"


class JudgeError(Exception):
    """Scoring did not produce a valid score this time."""

    kind = "error"
    retryable = True


class JudgeNotConfigured(JudgeError):
    kind = "not_configured"


class JudgeProviderError(JudgeError):
    """The provider failed (connection, timeout, 429, 5xx, rejected request)."""

    kind = "provider"


class JudgeOutputError(JudgeError):
    """The provider answered, but not with a valid score (malformed, out of range,
    refusal, truncated)."""

    kind = "output"
    retryable = True


class JudgeEmptyTranscript(JudgeOutputError):
    """Nothing to score: retrying cannot help."""

    retryable = False


def judge_configured(settings: Settings) -> bool:
    return settings.llm_configured


def judge_model(settings: Settings) -> str:
    return settings.quality_judge_model or settings.llm_model


def make_client(settings: Settings, *, timeout: float | None = None) -> AsyncOpenAI:
    """An ``AsyncOpenAI`` for the configured endpoint, shared per event loop (building one
    costs ~30 ms, mostly its TLS context). Callers must not close it."""
    if not settings.llm_configured:
        raise JudgeNotConfigured(NOT_CONFIGURED)
    key = settings.openai_api_key.get_secret_value() if settings.openai_api_key else "unused"
    timeout = timeout or settings.quality_judge_timeout_seconds
    loop = asyncio.get_running_loop()
    cache_key = (id(loop), hashlib.sha256(key.encode()).hexdigest(), settings.openai_base_url)
    cached = _clients.get(cache_key)
    if cached is not None and cached[0] is loop:
        return cached[1].with_options(timeout=timeout)
    if len(_clients) >= 16:
        _clients.clear()
    client = AsyncOpenAI(api_key=key, base_url=settings.openai_base_url, max_retries=0)
    _clients[cache_key] = (loop, client)
    return client.with_options(timeout=timeout)


_clients: dict[tuple[int, str, str | None], tuple[asyncio.AbstractEventLoop, AsyncOpenAI]] = {}


ROLE_LABELS = {
    "agent": "AGENT",
    "assistant": "AGENT",
    "user": "LEAD",
    "lead": "LEAD",
    "caller": "LEAD",
    "customer": "LEAD",
}


def transcript_turns(transcript: Any) -> list[dict[str, str]]:
    """Normalise ``[{role, text, at}]`` into ``[{role: agent|lead, text, at}]`` (drops
    empty and malformed turns)."""
    out: list[dict[str, str]] = []
    for turn in transcript or []:
        if not isinstance(turn, dict):
            continue
        text = str(turn.get("text") or turn.get("content") or "").strip()
        if not text:
            continue
        label = ROLE_LABELS.get(str(turn.get("role", "")).lower())
        if label is None:
            continue
        out.append(
            {
                "role": "agent" if label == "AGENT" else "lead",
                "text": text,
                "at": str(turn.get("at") or ""),
            }
        )
    return out


def format_transcript(turns: list[dict[str, str]], max_chars: int) -> str:
    lines = [f"{'AGENT' if t['role'] == 'agent' else 'LEAD'}: {t['text']}" for t in turns]
    text = "\n".join(lines)
    if len(text) > max_chars:
        text = "[… start of call omitted …]\n" + text[-max_chars:]
    return text


_FENCE = re.compile(r"^\s*```(?:json)?\s*(.*?)\s*```\s*$", re.DOTALL)


def parse_judgement(
    content: str | None, *, refusal: str | None = None, finish_reason: str | None = None
) -> Judgement:
    """Validate the judge's answer or raise ``JudgeOutputError`` with the reason."""
    if refusal:
        raise JudgeOutputError(f"judge refused: {refusal.strip()[:200]}")
    if finish_reason == "length":
        raise JudgeOutputError("judge output truncated (finish_reason=length)")
    if finish_reason == "content_filter":
        raise JudgeOutputError("judge output blocked by the provider's content filter")
    if content is None or not content.strip():
        raise JudgeOutputError("judge returned no content")
    m = _FENCE.match(content)
    if m:
        content = m.group(1)
    try:
        data = json.loads(content)
    except json.JSONDecodeError as exc:
        raise JudgeOutputError(f"judge output is not valid JSON: {exc.msg}") from exc
    if not isinstance(data, dict):
        raise JudgeOutputError("judge output is not a JSON object")
    try:
        return Judgement.model_validate_json(json.dumps(data))
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'output'}: {e['msg']}"
            for e in exc.errors()[:5]
        )
        raise JudgeOutputError(f"judge output failed validation: {problems}") from exc


def _user_prompt(
    transcript_text: str, *, goal: str | None, product: str | None, language: str | None
) -> str:
    parts = []
    if goal:
        parts.append(f"Call goal: {goal}")
    if product:
        parts.append(f"Product: {product[:300]}")
    if language:
        parts.append(f"Language: {language}")
    parts.append("Transcript:\n<<<\n" + transcript_text + "\n>>>")
    return "\n".join(parts)


async def judge_transcript(
    settings: Settings,
    transcript: Any,
    *,
    goal: str | None = None,
    product: str | None = None,
    language: str | None = None,
    client: AsyncOpenAI | None = None,
) -> QualityScore:
    """Score one transcript. Raises ``JudgeNotConfigured``, ``JudgeProviderError`` or
    ``JudgeOutputError``."""
    turns = transcript_turns(transcript)
    if not turns:
        raise JudgeEmptyTranscript("transcript is empty: nothing to score")
    client = client or make_client(settings)
    model = judge_model(settings)
    text = format_transcript(turns, settings.quality_max_transcript_chars)
    try:
        resp = await client.chat.completions.create(
            model=model,
            messages=[
                {"role": "system", "content": rubric.system_prompt()},
                {
                    "role": "user",
                    "content": _user_prompt(text, goal=goal, product=product, language=language),
                },
            ],
            response_format=rubric.response_format(),
            temperature=0,
        )
    except openai.APIStatusError as exc:
        raise JudgeProviderError(f"judge provider answered {exc.status_code}") from exc
    except openai.APITimeoutError as exc:
        raise JudgeProviderError("judge provider timed out") from exc
    except openai.APIError as exc:
        raise JudgeProviderError(f"judge provider error: {type(exc).__name__}") from exc
    if not resp.choices:
        raise JudgeOutputError("judge returned no choices")
    choice = resp.choices[0]
    message = choice.message
    judgement = parse_judgement(
        message.content,
        refusal=getattr(message, "refusal", None),
        finish_reason=choice.finish_reason,
    )
    return QualityScore(
        **judgement.model_dump(),
        goal=goal,
        judge_model=(resp.model or model)[:200],
        rubric_version=rubric.RUBRIC_VERSION,
    )
