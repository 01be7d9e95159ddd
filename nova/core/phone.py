"""E.164 as Nova accepts it everywhere: a "+", a country code that does not start with 0,
7 to 15 digits in all, ASCII digits only (``\\d`` would match any script's digits), nothing
else. Whether the number exists for its country is checked with ``phonenumbers`` where it
matters; this is the shape, for validators and for OpenAPI/MCP patterns."""

from __future__ import annotations

import re

E164_PATTERN = r"^\+[1-9][0-9]{6,14}$"
E164 = re.compile(E164_PATTERN)
