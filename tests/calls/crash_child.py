"""Child process for tests/calls/test_pipeline_crash.py (run as a script, not collected).

    python tests/calls/crash_child.py OUT STEP USER_ID BATCH_ID

Places a three-lead batch for USER_ID through ``place_calls`` (batch id BATCH_ID; USER_ID
``anonymous``: an anonymous batch with ``single_statement``, as POST /calls without an
Idempotency-Key) and, at
the dial pipeline's step boundary STEP (gated | recorded | dispatched | finished), writes
``at STEP`` to OUT and waits there, so the parent can SIGKILL it exactly between two steps.
LiveKit and the database come from the environment.
"""

from __future__ import annotations

import asyncio
import os
import sys

from nova.calls import pipeline
from nova.calls.schemas import CallBatchRequest
from nova.calls.service import place_calls
from nova.core.db import dispose_engine, init_engine, session_scope
from nova.core.settings import get_settings
from nova.models.user import User

PHONES = ["+971501234567", "+971501234568", "+971501234569"]


def batch_request() -> CallBatchRequest:
    return CallBatchRequest(
        owner_email="owner@example.com",
        product="CloudSync CRM",
        goal="qualify_interest",
        consent=True,
        leads=[{"phone": p, "name": f"Lead {i}"} for i, p in enumerate(PHONES)],
    )


def _line(out: str, text: str) -> None:
    with open(out, "a") as f:
        f.write(text + "\n")
        f.flush()
        os.fsync(f.fileno())


async def main(out: str, step: str, user_id: str, batch_id: str) -> None:
    settings = get_settings()
    init_engine(settings)

    def stop_at(name: str, call_ids: list[str]):
        if name == step:
            _line(out, f"at {name} {' '.join(call_ids)}")
            return asyncio.sleep(3600)  # the parent kills us here
        return None

    pipeline.observe(stop_at)
    async with session_scope() as s:
        if user_id == "anonymous":  # as POST /calls without a key: the fast path
            await place_calls(s, settings, batch_request(), None, single_statement=True)
        else:
            user = await s.get(User, user_id)
            await place_calls(s, settings, batch_request(), user, batch_id=batch_id)
    _line(out, "done")
    await dispose_engine()


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:5]))
