"""Query parameters shared by list endpoints, bounded so that no value reaches the database
driver out of its range (a 64-bit overflow in SQLite or asyncpg is a 500, not a 422)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Query

# Far beyond any real page, far below the 64-bit limit of either database.
MAX_OFFSET = 1_000_000_000

Offset = Annotated[int, Query(ge=0, le=MAX_OFFSET, description=f"Items to skip (0-{MAX_OFFSET:,})")]
