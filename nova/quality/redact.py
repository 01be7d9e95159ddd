"""Personal data out of transcripts before they become training data.

Replaces e-mail addresses with ``[EMAIL]``, phone numbers with ``[PHONE]`` and names with
``[NAME]``: the names we know (the lead's name, whole and each part, and any extra names
given) plus names people introduce in the call ("my name is …", "this is …", "I'm …",
"speaking with …", Arabic "اسمي …"). Redaction is deliberately greedy: losing a word
of training text costs less than leaking a person.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

EMAIL = "[EMAIL]"
PHONE = "[PHONE]"
NAME = "[NAME]"

_EMAIL_RE = re.compile(r"[\w.!#$%&'*+/=?^`{|}~-]+@[\w-]+(?:\.[\w-]+)+", re.UNICODE)
# A run of digits with optional separators, 7+ digits in total (E.164, local, grouped,
# spoken with dashes, dots or spaces, with or without a country code or parentheses).
_PHONE_RE = re.compile(r"(?<![\w])(?:\+|00)?(?:[\s().-]*\d){7,}(?![\w])")
_CAP = r"[A-Z\u00C0-\u024F][\w'\u2019-]*"
_INTRO_RE = re.compile(
    r"(?i:\b(?:my name is|my name's|name's|this is|i am|i'm|im|speaking with|"
    r"you're speaking to|you are speaking to|talking to|call me|ask for)\s+)"
    rf"({_CAP}(?:\s+{_CAP})?)"
)
_ARABIC_INTRO_RE = re.compile(r"(اسمي|معك|أنا)\s+([\u0600-\u06FF]+(?:\s+[\u0600-\u06FF]+)?)")
# Words that follow "this is"/"I'm" without being names.
_NOT_NAMES = {
    "a",
    "an",
    "the",
    "not",
    "just",
    "very",
    "really",
    "so",
    "sorry",
    "fine",
    "good",
    "great",
    "busy",
    "interested",
    "calling",
    "it",
    "that",
    "what",
    "why",
    "how",
    "who",
    "nova",
    "here",
    "there",
    "ok",
    "okay",
    "yes",
    "no",
    "sure",
    "afraid",
    "going",
    "looking",
    "happy",
    "glad",
    "in",
    "on",
    "at",
    "with",
    "from",
    "about",
    "driving",
    "working",
    "available",
}


def _name_parts(names: Iterable[str | None]) -> list[str]:
    parts: set[str] = set()
    for name in names:
        if not name:
            continue
        name = name.strip()
        if len(name) >= 2:
            parts.add(name)
        for part in re.split(r"[\s,]+", name):
            part = part.strip(".'\u2019-")
            if len(part) >= 2 and part.lower() not in _NOT_NAMES:
                parts.add(part)
    # Longest first so "Sarah Connor" is replaced before "Sarah".
    return sorted(parts, key=len, reverse=True)


def names_pattern(names: Iterable[str | None]) -> re.Pattern[str] | None:
    """One compiled pattern for every known name and name part (reuse it across turns)."""
    parts = _name_parts(names)
    if not parts:
        return None
    alternation = "|".join(re.escape(p) for p in parts)
    return re.compile(rf"(?<!\w)(?:{alternation})(?!\w)", re.IGNORECASE)


def redact(text: str, names: Iterable[str | None] | re.Pattern[str] | None = ()) -> str:
    """Return ``text`` without e-mails, phone numbers and names."""
    if not text:
        return text
    out = _EMAIL_RE.sub(EMAIL, text)
    out = _PHONE_RE.sub(lambda m: _keep_edges(m.group(0), PHONE), out)
    pattern = names if isinstance(names, re.Pattern) or names is None else names_pattern(names)
    if pattern is not None:
        out = pattern.sub(NAME, out)

    def _intro(m: re.Match[str]) -> str:
        words = m.group(1).split()
        if words[0].lower() in _NOT_NAMES:
            return m.group(0)
        kept = [w for w in words[1:] if w.lower() in _NOT_NAMES]
        tail = (" " + " ".join(kept)) if kept else ""
        return m.group(0)[: m.start(1) - m.start(0)] + NAME + tail

    out = _INTRO_RE.sub(_intro, out)
    out = _ARABIC_INTRO_RE.sub(lambda m: f"{m.group(1)} {NAME}", out)
    return out


def _keep_edges(match: str, token: str) -> str:
    """Keep the whitespace the phone regex swallowed at the start of a match."""
    lead = match[: len(match) - len(match.lstrip())]
    return lead + token


def redact_turns(turns: list[dict[str, str]], names: Iterable[str | None] = ()) -> list[dict]:
    pattern = names_pattern(names)
    return [{**t, "text": redact(t["text"], pattern)} for t in turns]
