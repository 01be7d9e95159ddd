"""Parsing JSON from strangers: bounded nesting, standard numbers only.

Python's parser recurses once per nesting level, so ``[[[[…]]]]`` 1,000 levels deep (2 KB)
raises ``RecursionError`` (a 500) in the parser or in whatever walks the result next. The
depth is measured first by a scan that only looks at brackets outside strings, before
anything is parsed. ``NaN`` and ``Infinity``, which ``json.loads`` accepts but JSON does not
(PostgreSQL refuses them in a json column), are refused too, and so is a number too large
for a float (``1e400``).
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

MAX_DEPTH = 32

# Every byte but the brackets and quotes, deleted by ``bytes.translate`` (C speed).
_NOT_STRUCTURAL = bytes(b for b in range(256) if b not in b'"[]{}')
_STRING = re.compile(rb'"[^"]*"')


class InvalidJSON(ValueError):
    """The body is not acceptable JSON; the message says why (safe to show the client)."""


class TooDeep(InvalidJSON):
    """Nested deeper than the limit (a 400: the JSON may be valid, the request is not)."""


def depth(body: bytes, *, stop_above: int | None = None) -> int:
    """The deepest nesting of arrays and objects in ``body``; brackets inside strings do not
    count. No parsing: escaped backslashes and quotes are dropped, then everything but
    brackets and quotes, then whole strings; what is left is walked (stopping early once
    deeper than ``stop_above``). ~10 µs for a typical 2 KB request."""
    skeleton = body.replace(b"\\\\", b"").replace(b'\\"', b"").translate(None, _NOT_STRUCTURAL)
    if b'"' in skeleton:
        skeleton = _STRING.sub(b"", skeleton)
    level = deepest = 0
    for c in skeleton:
        if c == 0x5B or c == 0x7B:  # [ {
            level += 1
            if level > deepest:
                deepest = level
                if stop_above is not None and deepest > stop_above:
                    break
        else:
            level -= 1
    return deepest


def check_depth(body: bytes, limit: int = MAX_DEPTH) -> None:
    if depth(body, stop_above=limit) > limit:
        raise TooDeep(f"JSON nested too deeply (at most {limit} levels)")


def _refuse_constant(name: str) -> Any:
    raise InvalidJSON(f"{name} is not valid JSON")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):  # 1e400 parses as inf
        raise InvalidJSON(f"number {text[:20]} is out of range")
    return value


def loads(body: bytes | str, *, limit: int = MAX_DEPTH) -> Any:
    """``json.loads`` for untrusted input: raises ``InvalidJSON`` for bad syntax or encoding,
    nesting deeper than ``limit``, and the non-standard constants."""
    raw = body.encode() if isinstance(body, str) else body
    check_depth(raw, limit)
    try:
        return json.loads(raw, parse_constant=_refuse_constant, parse_float=_finite_float)
    except InvalidJSON:
        raise
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise InvalidJSON("Request body must be valid JSON") from exc
