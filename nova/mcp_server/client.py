"""A small async client for Nova's public REST API, used by the MCP tools.

It knows nothing about MCP beyond one thing: failures are raised as
:class:`NovaAPIError` / :class:`NovaConnectionError`, both ``ToolError`` subclasses, so a
tool that lets them escape returns an MCP tool error whose text carries the API's
``detail`` and HTTP status (the SDK hides the text of any other exception).

Retry policy: only ``GET`` requests are retried (transport errors and 502/503/504, with a
short backoff). ``POST`` and ``DELETE`` are sent exactly once, so a tool can never dial a
batch of leads twice because of a flaky network.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any, Literal

import httpx
from mcp.server.mcpserver.exceptions import ToolError

from nova import __version__

DEFAULT_API_URL = "http://127.0.0.1:8000"
DEFAULT_TIMEOUT_SECONDS = 30.0
USER_AGENT = f"nova-mcp/{__version__}"
RETRYABLE_STATUSES = frozenset({502, 503, 504})

AuthOrigin = Literal["configured", "session", "none"]


def _format_detail(detail: Any) -> str:
    if isinstance(detail, str):
        return detail
    try:
        return json.dumps(detail, separators=(",", ":"), ensure_ascii=False)[:2000]
    except (TypeError, ValueError):
        return str(detail)[:2000]


class NovaAPIError(ToolError):
    """The API answered with a non-success status. ``status`` and ``detail`` are the
    API's own (``detail`` is the ``{"detail": ...}`` payload, or the raw body)."""

    def __init__(
        self,
        status: int,
        detail: Any,
        *,
        method: str,
        path: str,
        retry_after: int | None = None,
        hint: str | None = None,
    ) -> None:
        self.status = status
        self.detail = detail
        self.method = method
        self.path = path
        self.retry_after = retry_after
        self.hint = hint
        message = f"Nova API error (HTTP {status}) on {method} {path}: {_format_detail(detail)}"
        if retry_after is not None:
            message += f" (retry after {retry_after} s)"
        if hint:
            message += f". {hint}"
        super().__init__(message)


class NovaConnectionError(ToolError):
    """The API could not be reached (DNS, refused connection, timeout...)."""

    def __init__(self, method: str, url: str, exc: Exception) -> None:
        self.method = method
        self.url = url
        reason = str(exc) or type(exc).__name__
        super().__init__(
            f"Could not reach the Nova API ({method} {url}): {reason}. "
            "Check NOVA_API_URL and that the server is running."
        )


Sleep = Callable[[float], Awaitable[None]]


class NovaClient:
    """``httpx.AsyncClient`` wrapper with Nova's base URL and bearer token.

    ``transport`` lets the control plane call itself in-process
    (``httpx.ASGITransport``); tests use the same. The underlying ``httpx`` client is
    created lazily and can be closed and reopened (``aclose``), so one instance can serve
    several MCP sessions.
    """

    def __init__(
        self,
        base_url: str = DEFAULT_API_URL,
        token: str | None = None,
        *,
        timeout: float = DEFAULT_TIMEOUT_SECONDS,
        transport: httpx.AsyncBaseTransport | None = None,
        headers: Mapping[str, str] | None = None,
        get_attempts: int = 3,
        backoff: Iterable[float] = (0.25, 1.0),
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self.base_url = base_url.strip().rstrip("/")
        if not self.base_url.startswith(("http://", "https://")):
            raise ValueError(f"Nova API URL must be http(s)://..., got {base_url!r}")
        self.token = token.strip() if token and token.strip() else None
        self.auth_origin: AuthOrigin = "configured" if self.token else "none"
        self.timeout = timeout
        self.transport = transport
        self.extra_headers = dict(headers or {})
        self.get_attempts = max(1, get_attempts)
        self.backoff = tuple(backoff)
        self._sleep = sleep
        self._http: httpx.AsyncClient | None = None

    @classmethod
    def from_env(
        cls,
        base_url: str | None = None,
        token: str | None = None,
        *,
        timeout: float | None = None,
        env: Mapping[str, str] | None = None,
        **kwargs: Any,
    ) -> NovaClient:
        """Arguments win; then ``NOVA_API_URL`` / ``NOVA_API_TOKEN`` (``NOVA_API_BASE`` and
        ``NOVA_API_KEY`` are accepted as the published nova-mcp client's names), then
        ``NOVA_PUBLIC_URL``, then a local control plane on port 8000."""
        env = os.environ if env is None else env
        url = (
            base_url
            or env.get("NOVA_API_URL")
            or env.get("NOVA_API_BASE")
            or env.get("NOVA_PUBLIC_URL")
            or DEFAULT_API_URL
        )
        tok = token or env.get("NOVA_API_TOKEN") or env.get("NOVA_API_KEY")
        if timeout is None:
            raw = env.get("NOVA_API_TIMEOUT")
            try:
                timeout = float(raw) if raw else DEFAULT_TIMEOUT_SECONDS
            except ValueError as exc:
                raise ValueError(f"NOVA_API_TIMEOUT must be a number of seconds: {raw!r}") from exc
            if timeout <= 0:
                raise ValueError("NOVA_API_TIMEOUT must be positive")
        return cls(url, tok, timeout=timeout, **kwargs)

    # -- token handling ---------------------------------------------------------------
    def adopt_session_token(self, token: str) -> bool:
        """Use ``token`` (from login/register) for later calls, unless a token was
        configured explicitly. Returns whether it is now in use."""
        if self.auth_origin == "configured":
            return False
        self.token = token
        self.auth_origin = "session"
        return True

    # -- lifecycle --------------------------------------------------------------------
    def _client(self) -> httpx.AsyncClient:
        if self._http is None or self._http.is_closed:
            self._http = httpx.AsyncClient(
                base_url=self.base_url,
                transport=self.transport,
                timeout=self.timeout,
                follow_redirects=False,
                headers={"User-Agent": USER_AGENT, "Accept": "application/json"},
            )
        return self._http

    async def aclose(self) -> None:
        if self._http is not None:
            await self._http.aclose()
            self._http = None

    async def __aenter__(self) -> NovaClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # -- requests ---------------------------------------------------------------------
    async def get(self, path: str, **kw: Any) -> Any:
        return await self.request("GET", path, **kw)

    async def post(self, path: str, body: Any = None, **kw: Any) -> Any:
        return await self.request("POST", path, json_body=body, **kw)

    async def delete(self, path: str, **kw: Any) -> Any:
        return await self.request("DELETE", path, **kw)

    async def request(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        auth: bool = True,
        accept: Iterable[int] = (),
    ) -> Any:
        """Send one request; return the decoded JSON body (``None`` for an empty body).

        ``auth=False`` never sends the token (public endpoints). ``accept`` lists
        non-2xx statuses that are answers rather than errors (``/health/deep``'s 503).
        """
        method = method.upper()
        accepted = set(accept)
        send_headers = dict(self.extra_headers)
        if auth and self.token:
            send_headers["Authorization"] = f"Bearer {self.token}"
        if headers:
            send_headers.update(headers)
        attempts = self.get_attempts if method == "GET" else 1
        http = self._client()
        for attempt in range(1, attempts + 1):
            last = attempt == attempts
            try:
                response = await http.request(
                    method,
                    path,
                    json=json_body if method != "GET" else None,
                    params=params,
                    headers=send_headers,
                )
            except httpx.TransportError as exc:
                if last:
                    raise NovaConnectionError(method, f"{self.base_url}{path}", exc) from exc
                await self._pause(attempt)
                continue
            status = response.status_code
            if 200 <= status < 300 or status in accepted:
                return _decode(response)
            if status in RETRYABLE_STATUSES and not last:
                await self._pause(attempt)
                continue
            raise self._error(response, method, path)
        raise AssertionError("unreachable")  # pragma: no cover

    async def _pause(self, attempt: int) -> None:
        if self.backoff:
            await self._sleep(self.backoff[min(attempt, len(self.backoff)) - 1])

    def _error(self, response: httpx.Response, method: str, path: str) -> NovaAPIError:
        try:
            payload = response.json()
            detail = payload.get("detail", payload) if isinstance(payload, dict) else payload
        except ValueError:
            detail = response.text[:500] or response.reason_phrase
        retry_after = None
        raw = response.headers.get("retry-after")
        if raw and raw.strip().isdigit():
            retry_after = int(raw.strip())
        hint = None
        if response.status_code == 401 and not self.token:
            hint = (
                "No Nova API token is in use: set NOVA_API_TOKEN, or call the login or "
                "register tool first"
            )
        return NovaAPIError(
            response.status_code,
            detail,
            method=method,
            path=path,
            retry_after=retry_after,
            hint=hint,
        )


def _decode(response: httpx.Response) -> Any:
    if response.status_code == 204 or not response.content:
        return None
    try:
        return response.json()
    except ValueError as exc:
        raise NovaAPIError(
            response.status_code,
            f"expected a JSON body, got {response.headers.get('content-type', 'no content type')}"
            " (is NOVA_API_URL pointing at a Nova API?)",
            method=response.request.method,
            path=response.request.url.path,
        ) from exc
