"""The worker's signed HTTP client to the control plane (``worker_protocol``).

Workers never touch the database: every fact goes through ``Reporter.send``. Transport
errors and 5xx answers are retried with the same report id (the control plane dedupes on
it, a 409 then means the first attempt was recorded). An SMS report is only retried when
the request could not be sent at all, so a lead never gets the same text twice.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from functools import lru_cache
from typing import Any

import httpx

from nova.core import clock
from nova.core.settings import Settings
from nova.telephony import worker_protocol as wp
from nova.telephony.metadata import DispatchMetadata

log = logging.getLogger("nova.agent.reporting")


class ReportRejected(Exception):  # noqa: N818
    def __init__(self, status: int, detail: str) -> None:
        super().__init__(f"{status}: {detail}")
        self.status = status
        self.detail = detail


@lru_cache(maxsize=1)
def ssl_context() -> ssl.SSLContext:
    """Built once per process (loading the CA store takes ~90 ms): the worker's prewarm
    calls it so no job pays for it on its start path."""
    return httpx.create_ssl_context()


def report_base_url(settings: Settings, meta: DispatchMetadata) -> str:
    base = meta.report_url or settings.worker_report_url
    if not base:
        base = settings.public_url.rstrip("/") + "/internal/worker"
    return base.rstrip("/")


class Reporter:
    def __init__(
        self,
        settings: Settings,
        call_id: str,
        base_url: str,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        retry_delay: float = 0.5,
    ) -> None:
        self.call_id = call_id
        self.url = f"{base_url}/{call_id}/events"
        self._secret = settings.worker_secret.get_secret_value()
        self._attempts = max(1, settings.worker_report_attempts)
        self._retry_delay = retry_delay
        self._client = httpx.AsyncClient(
            timeout=settings.worker_report_timeout_seconds,
            transport=transport,
            verify=ssl_context(),
        )
        self.sent: list[wp.Report] = []  # accepted reports, in order (tests, diagnostics)

    @classmethod
    def for_call(cls, settings: Settings, meta: DispatchMetadata, **kw: Any) -> Reporter:
        return cls(settings, meta.call_id, report_base_url(settings, meta), **kw)

    async def send(self, kind: wp.ReportKind, data: dict[str, Any] | None = None) -> dict[str, Any]:
        report = wp.new_report(self.call_id, kind, data)
        body = wp.encode(report)
        last: Exception | None = None
        for attempt in range(self._attempts):
            headers = wp.sign(self._secret, body, int(clock.now().timestamp()))
            try:
                resp = await self._client.post(self.url, content=body, headers=headers)
            except httpx.TransportError as exc:
                last = exc
                if kind == "sms" and not isinstance(exc, httpx.ConnectError):
                    break
            else:
                if resp.status_code == 409 and attempt > 0:
                    self.sent.append(report)
                    return {"duplicate": True}
                if resp.status_code < 400:
                    self.sent.append(report)
                    return resp.json()
                detail = _detail(resp)
                if resp.status_code < 500 or kind == "sms":
                    raise ReportRejected(resp.status_code, detail)
                last = ReportRejected(resp.status_code, detail)
            if attempt + 1 < self._attempts:
                await asyncio.sleep(self._retry_delay * (2**attempt))
        log.warning("report %s (%s) for call %s failed: %s", report.id, kind, self.call_id, last)
        if isinstance(last, ReportRejected):
            raise last
        raise ReportRejected(0, f"control plane unreachable: {last}")

    async def aclose(self) -> None:
        await self._client.aclose()


def _detail(resp: httpx.Response) -> str:
    try:
        detail = resp.json().get("detail")
    except Exception:
        detail = None
    return str(detail or resp.text[:200] or resp.reason_phrase)
