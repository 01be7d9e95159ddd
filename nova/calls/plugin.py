"""Calls' background work: the dial pipeline's recovery task (``calls.dispatch``, in
``nova.calls.pipeline``) and the reconciler of calls whose worker died."""

from __future__ import annotations

from nova.calls import pipeline, reconciler  # noqa: F401 - registers calls.dispatch
from nova.core.runner import once_across_replicas, scheduled
from nova.core.settings import get_settings


@scheduled("calls.reconcile", type="interval", seconds=60)
async def reconcile_calls() -> dict[str, int]:
    """End calls left in progress by a worker that died (see ``reconciler``)."""
    async with once_across_replicas("calls.reconcile") as leader:
        if not leader:
            return {}
        return await reconciler.reconcile(get_settings())
