"""Personal data never reaches a training file."""

from __future__ import annotations

import pytest

from nova.models.calls import Call, CallContext
from nova.quality.finetune import training_example
from nova.quality.redact import redact
from tests.quality.helpers import TRANSCRIPT


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Reach me at sarah.o'connor+crm@mail.example.co.uk now", "Reach me at [EMAIL] now"),
        ("call +1 (415) 555-0100 please", "call [PHONE] please"),
        ("my cell is 050 123 4567.", "my cell is [PHONE]."),
        ("use 00971501234567", "use [PHONE]"),
        ("it's 415.555.0100", "it's [PHONE]"),
        ("Hi Sarah, is Connor there? SARAH CONNOR!", "Hi [NAME], is [NAME] there? [NAME]!"),
        ("My name is Omar Khalid, from sales", "My name is [NAME], from sales"),
        ("this is John speaking", "this is [NAME] speaking"),
        ("I'm Priya and I run ops", "I'm [NAME] and I run ops"),
        ("اسمي أحمد", "اسمي [NAME]"),
    ],
)
def test_redacts_emails_phones_names(text, expected):
    assert redact(text, ["Sarah Connor"]) == expected


@pytest.mark.parametrize(
    "text",
    [
        "I'm not interested right now",
        "This is a great product",
        "We sold 3 plans at 99 dollars for 12 months in 2026",
        "Nova here, from Acme",
    ],
)
def test_ordinary_speech_and_short_numbers_are_kept(text):
    assert redact(text, ["Sarah Connor"]) == text


def test_training_example_is_redacted_and_shaped_for_chat_fine_tuning():
    ctx = CallContext(
        batch_id="b",
        product="Acme CRM",
        goal="book_meeting",
        lead={"name": "Sarah Connor"},
        agent_instructions="Call Sarah Connor at +1 415 555 0100 about Acme.",
    )
    call = Call(
        batch_id="b",
        context_id=ctx.id,
        phone="+14155550100",
        lead_name="Sarah Connor",
        owner_email="o@example.com",
        goal="book_meeting",
        room_name="r",
        transcript=[*TRANSCRIPT, {"role": "user", "text": "Bye."}],
    )
    ex = training_example(call, ctx)
    roles = [m["role"] for m in ex["messages"]]
    assert roles == ["system", "assistant", "user", "assistant", "user", "assistant", "user"]
    text = " ".join(m["content"] for m in ex["messages"])
    for leak in ("Sarah", "Connor", "415", "sarah.connor@example.com"):
        assert leak not in text
    assert ex["messages"][0]["content"] == "Call [NAME] at [PHONE] about Acme."
    assert "[EMAIL]" in text and "[PHONE]" in text
    assert ex["messages"][-1]["content"] == "Yes, Tuesday works. Bye."  # merged turns


def test_call_without_agent_turns_is_no_example():
    call = Call(
        batch_id="b",
        context_id="c",
        phone="+1",
        owner_email="o@example.com",
        goal="book_meeting",
        room_name="r",
        transcript=[{"role": "user", "text": "hello?"}],
    )
    assert training_example(call, None) is None
