"""The judge against an OpenAI-compatible peer, through the real openai client."""

from __future__ import annotations

import json

import pytest

from nova.quality import rubric
from nova.quality.judge import (
    JudgeEmptyTranscript,
    JudgeNotConfigured,
    JudgeOutputError,
    JudgeProviderError,
    judge_transcript,
    parse_judgement,
)
from tests.fakes.openai_server import chat_response
from tests.quality.helpers import TRANSCRIPT, judgement


async def test_valid_judgement_is_parsed_with_provenance(openai_fake, settings):
    settings.quality_judge_model = "judge-large"
    openai_fake.chat = lambda body: json.dumps(judgement(77, 3))
    score = await judge_transcript(settings, TRANSCRIPT, goal="book_meeting", product="Acme")
    assert score.overall == 77
    assert score.dimensions.opening_rapport.score == 3
    assert score.goal_outcome == "achieved"
    assert score.goal == "book_meeting"
    assert score.judge_model == "judge-large"
    assert score.rubric_version == rubric.RUBRIC_VERSION

    body = openai_fake.requests[-1]
    assert body["model"] == "judge-large"
    fmt = body["response_format"]
    assert fmt["type"] == "json_schema" and fmt["json_schema"]["strict"] is True
    props = fmt["json_schema"]["schema"]["properties"]["dimensions"]["properties"]
    assert set(props) == set(rubric.DIMENSION_KEYS) and len(props) == 5
    user_msg = body["messages"][-1]["content"]
    assert "AGENT: Hi Sarah" in user_msg and "LEAD: Yes, Tuesday works." in user_msg
    assert "Call goal: book_meeting" in user_msg


async def test_judge_model_defaults_to_llm_model(openai_fake, settings):
    settings.llm_model = "house-model"
    openai_fake.chat = lambda body: json.dumps(judgement())
    score = await judge_transcript(settings, TRANSCRIPT)
    assert openai_fake.requests[-1]["model"] == "house-model"
    assert score.judge_model == "house-model"


async def test_malformed_json_is_rejected(openai_fake, settings):
    openai_fake.chat = lambda body: '{"dimensions": {"opening_rapport": '
    with pytest.raises(JudgeOutputError, match="not valid JSON"):
        await judge_transcript(settings, TRANSCRIPT)


@pytest.mark.parametrize(
    ("mutate", "where"),
    [
        (lambda j: j.update(overall=101), "overall"),
        (lambda j: j.update(overall=-1), "overall"),
        (lambda j: j["dimensions"]["objection_handling"].update(score=6), "objection_handling"),
        (lambda j: j["dimensions"]["opening_rapport"].update(score=0), "opening_rapport"),
        (lambda j: j["dimensions"]["opening_rapport"].update(score=4.5), "opening_rapport"),
        (lambda j: j["dimensions"]["opening_rapport"].update(score="4"), "opening_rapport"),
        (lambda j: j["dimensions"].pop("goal_progress_close"), "goal_progress_close"),
        (lambda j: j.update(goal_outcome="maybe"), "goal_outcome"),
        (lambda j: j.update(extra="x"), "extra"),
        (lambda j: j["dimensions"]["opening_rapport"].update(reason="  \n "), "reason"),
    ],
)
async def test_out_of_range_or_wrong_shape_is_rejected(openai_fake, settings, mutate, where):
    bad = judgement()
    mutate(bad)
    openai_fake.chat = lambda body: json.dumps(bad)
    with pytest.raises(JudgeOutputError, match="failed validation") as info:
        await judge_transcript(settings, TRANSCRIPT)
    assert where in str(info.value)


async def test_refusal_is_rejected(openai_fake, settings):
    openai_fake.chat = lambda body: chat_response(None, refusal="I can't help with that.")
    with pytest.raises(JudgeOutputError, match="judge refused: I can't help"):
        await judge_transcript(settings, TRANSCRIPT)


async def test_truncated_output_is_rejected(openai_fake, settings):
    def truncated(body):
        r = chat_response(json.dumps(judgement()))
        r["choices"][0]["finish_reason"] = "length"
        return r

    openai_fake.chat = truncated
    with pytest.raises(JudgeOutputError, match="truncated"):
        await judge_transcript(settings, TRANSCRIPT)


async def test_provider_error_is_a_provider_error(openai_fake, settings):
    openai_fake.chat = lambda body: {"status": 503, "error": {"message": "overloaded"}}
    with pytest.raises(JudgeProviderError, match="503"):
        await judge_transcript(settings, TRANSCRIPT)


async def test_empty_transcript_never_reaches_the_provider(openai_fake, settings):
    with pytest.raises(JudgeEmptyTranscript):
        await judge_transcript(settings, [{"role": "agent", "text": "  "}, {"x": 1}])
    assert openai_fake.requests == []


async def test_not_configured(settings):
    with pytest.raises(JudgeNotConfigured, match="judge not configured"):
        await judge_transcript(settings, TRANSCRIPT)


def test_parse_accepts_a_fenced_object_and_folds_reasons_to_one_line():
    j = judgement()
    j["dimensions"]["opening_rapport"]["reason"] = "warm\nopening   here"
    parsed = parse_judgement("```json\n" + json.dumps(j) + "\n```")
    assert parsed.dimensions.opening_rapport.reason == "warm opening here"
    with pytest.raises(JudgeOutputError, match="not a JSON object"):
        parse_judgement("[1, 2]")
    with pytest.raises(JudgeOutputError, match="no content"):
        parse_judgement(None)
