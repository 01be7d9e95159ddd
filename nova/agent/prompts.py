"""The agent's instructions, built from the brief: English, or Gulf Arabic for ``ar-AE``.

``instructions(meta, phase)`` is the whole system prompt: persona and brief (fixed for the
call) followed by the current phase's directions (refreshed when the phase changes).
Fixed phrases the agent speaks without the LLM (voicemail, time limit) live here too.
"""

from __future__ import annotations

from nova.telephony.metadata import DispatchMetadata

GOAL_CLOSE_EN = {
    "book_meeting": (
        "Goal: book a meeting. Offer the booking link, and with the lead's agreement send it by "
        "SMS with send_link_sms. When they agree to book, call record_outcome with outcome "
        "meeting_booked and goal_completed true."
    ),
    "qualify_interest": (
        "Goal: qualify the lead's interest. Record every qualification answer with "
        "record_answer, then give a verdict with record_outcome: outcome qualified or "
        "not_qualified, goal_completed true, and a one-line reason in notes."
    ),
    "collect_info": (
        "Goal: collect information. Capture each requested field with record_answer (question "
        "= the field name). When every field is captured, call record_outcome with outcome "
        "info_collected and goal_completed true."
    ),
    "close_sale": (
        "Goal: close the sale. When the lead agrees to buy, send the payment link by SMS with "
        "send_link_sms, then call record_outcome with outcome sale_closed and goal_completed "
        "true."
    ),
}

GOAL_CLOSE_AR = {
    "book_meeting": (
        "الهدف: حجز موعد. اعرض رابط الحجز، وبعد موافقة العميل أرسله برسالة نصية عبر send_link_sms. "
        "عند موافقته على الحجز استدعِ record_outcome بالنتيجة meeting_booked و goal_completed = true."
    ),
    "qualify_interest": (
        "الهدف: تقييم اهتمام العميل. سجّل كل إجابة عبر record_answer، ثم أعطِ الحكم عبر "
        "record_outcome بالنتيجة qualified أو not_qualified و goal_completed = true مع سبب قصير في notes."
    ),
    "collect_info": (
        "الهدف: جمع المعلومات. سجّل كل حقل مطلوب عبر record_answer (السؤال = اسم الحقل). "
        "عند اكتمال الحقول استدعِ record_outcome بالنتيجة info_collected و goal_completed = true."
    ),
    "close_sale": (
        "الهدف: إتمام البيع. عند موافقة العميل على الشراء أرسل رابط الدفع برسالة نصية عبر "
        "send_link_sms، ثم استدعِ record_outcome بالنتيجة sale_closed و goal_completed = true."
    ),
}

PHASE_EN = {
    "opening": "Phase 1 — opening: you have greeted the lead; confirm it is a good moment and "
    "state briefly why you are calling.",
    "qualification": "Phase 2 — qualification: ask the remaining questions one at a time and "
    "record each answer with record_answer.",
    "objection_handling": "Phase 3 — objection handling: acknowledge the concern, answer it "
    "with the suggested response and the facts, then return to where you were.",
    "close": "Phase 4 — close: work towards the goal below now.",
    "ended": "The call is over. Say nothing more.",
}

PHASE_AR = {
    "opening": "المرحلة ١ — الافتتاح: لقد رحّبت بالعميل؛ تأكد أن الوقت مناسب واذكر سبب الاتصال باختصار.",
    "qualification": "المرحلة ٢ — التأهيل: اطرح الأسئلة المتبقية واحداً تلو الآخر وسجّل كل إجابة عبر record_answer.",
    "objection_handling": "المرحلة ٣ — معالجة الاعتراضات: تفهّم الاعتراض، أجب عليه بالرد المقترح والمعلومات، ثم عُد إلى ما كنت فيه.",
    "close": "المرحلة ٤ — الإغلاق: اعمل الآن على تحقيق الهدف أدناه.",
    "ended": "انتهت المكالمة. لا تقل شيئاً.",
}

VOICEMAIL_EN = (
    "Hi{name}, this is a quick message about {product}. We'll try you again later, "
    "or reply to our text if you'd like to talk sooner. Thank you!"
)
VOICEMAIL_AR = "مرحباً{name}، هذه رسالة قصيرة بخصوص {product}. سنعاود الاتصال لاحقاً. شكراً لك!"
TIME_UP_EN = (
    "I'm sorry, we've run out of time for this call. Thank you for speaking with me, goodbye!"
)
TIME_UP_AR = "أعتذر، انتهى وقت المكالمة. شكراً لوقتك، مع السلامة!"


def sms_text(meta: DispatchMetadata, kind: str, link: str) -> str:
    if is_arabic(meta):
        what = "رابط الحجز" if kind == "booking" else "رابط الدفع"
        return f"{what} الخاص بـ {meta.product}: {link}"
    what = "booking" if kind == "booking" else "payment"
    return f"Your {what} link for {meta.product}: {link}"


def is_arabic(meta: DispatchMetadata) -> bool:
    return meta.language == "ar-AE"


def voicemail_message(meta: DispatchMetadata) -> str:
    name = f" {meta.lead.name}" if meta.lead.name else ""
    template = VOICEMAIL_AR if is_arabic(meta) else VOICEMAIL_EN
    return template.format(name=name, product=meta.product)


def time_up_message(meta: DispatchMetadata) -> str:
    return TIME_UP_AR if is_arabic(meta) else TIME_UP_EN


def _bullets(items: list[str]) -> str:
    return "\n".join(f"- {i}" for i in items if i) or "- (none)"


def base_instructions(meta: DispatchMetadata) -> str:
    """Everything fixed for the call (built once per job)."""
    b = meta.brief
    lead = meta.lead
    lead_line = ", ".join(x for x in (lead.name, lead.title, lead.company) if x) or "(name unknown)"
    objections = (
        "\n".join(
            f"- {o.get('objection', '')}: {o.get('response', '')}" for o in b.objection_handlers
        )
        or "- (none)"
    )
    fields = ", ".join(meta.collect_fields) or "(none)"
    link = meta.booking_link if meta.goal == "book_meeting" else meta.payment_link
    if is_arabic(meta):
        return (
            "أنت مندوب مبيعات صوتي على مكالمة هاتفية. تحدّث باللهجة الخليجية الإماراتية فقط، "
            "بجمل قصيرة وطبيعية ومهذبة، ولا تستخدم رموزاً أو قوائم لأن كلامك يُحوَّل إلى صوت.\n"
            f"المنتج: {meta.product}\nالعميل: {lead_line}\n\n"
            f"تعليمات الحملة:\n{b.agent_instructions}\n\n"
            f"معلومات المنتج:\n{_bullets(b.product_facts)}\n\n"
            f"أسئلة التأهيل:\n{_bullets(b.qualification_questions)}\n\n"
            f"الاعتراضات والردود المقترحة (استخدم handle_objection عند أي اعتراض):\n{objections}\n\n"
            f"نص الإغلاق: {b.closing_script}\n"
            f"{GOAL_CLOSE_AR[meta.goal]}\n"
            f"الحقول المطلوبة: {fields}\n"
            + (f"الرابط: {link}\n" if link else "")
            + "\nقواعد: إذا طلب العميل عدم الاتصال به مرة أخرى استدعِ opt_out فوراً. "
            "إذا ردّ بريد صوتي أو جهاز رد آلي استدعِ detected_answering_machine. "
            "إذا طلب العميل التحدث مع شخص، أكّد معه ثم استدعِ transfer_to_human. "
            "عند انتهاء المحادثة ودّع العميل ثم استدعِ end_call. لا تختلق معلومات غير موجودة أعلاه."
        )
    return (
        "You are a friendly, concise voice sales agent on a phone call. Speak in short, natural "
        "sentences; no lists, markdown or emojis (your words are spoken aloud). Never invent "
        "facts that are not below.\n"
        f"Product: {meta.product}\nLead: {lead_line}\n\n"
        f"Campaign instructions:\n{b.agent_instructions}\n\n"
        f"Product facts:\n{_bullets(b.product_facts)}\n\n"
        f"Qualification questions:\n{_bullets(b.qualification_questions)}\n\n"
        f"Objections and suggested responses (call handle_objection on any objection):\n"
        f"{objections}\n\n"
        f"Closing script: {b.closing_script}\n"
        f"{GOAL_CLOSE_EN[meta.goal]}\n"
        f"Fields to collect: {fields}\n"
        + (f"Link: {link}\n" if link else "")
        + "\nRules: if the lead asks not to be called again, call opt_out immediately. If a "
        "voicemail greeting or answering machine picks up, call detected_answering_machine. "
        "If the lead asks to speak to a person, confirm, then call transfer_to_human. "
        "When the conversation is over, say goodbye and call end_call."
    )


def phase_instructions(meta: DispatchMetadata, phase: str, remaining: list[str]) -> str:
    table = PHASE_AR if is_arabic(meta) else PHASE_EN
    text = table.get(phase, "")
    if remaining and phase in ("qualification", "opening"):
        label = "الأسئلة المتبقية" if is_arabic(meta) else "Remaining questions"
        text += f"\n{label}: " + " | ".join(remaining)
    return text


def instructions(
    meta: DispatchMetadata, phase: str, remaining: list[str], base: str | None = None
) -> str:
    header = "المرحلة الحالية" if is_arabic(meta) else "Current phase"
    return f"{base or base_instructions(meta)}\n\n## {header}\n{phase_instructions(meta, phase, remaining)}"
