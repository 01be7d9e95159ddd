"""Errors in FastAPI's shape: ``{"detail": ...}`` with the status the reference lists."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from nova.core.logging import request_id_var

log = logging.getLogger("nova.errors")


class NovaError(Exception):
    """A domain error that maps to an HTTP status. Services raise these, routers don't
    need to translate them."""

    status_code = 400

    def __init__(self, detail: Any, *, headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.headers = headers


class BadRequest(NovaError):
    status_code = 400


class Unauthorized(NovaError):
    status_code = 401

    def __init__(self, detail: Any = "Not authenticated", **kw: Any) -> None:
        kw.setdefault("headers", {"WWW-Authenticate": "Bearer"})
        super().__init__(detail, **kw)


class PaymentRequired(NovaError):
    status_code = 402


class Forbidden(NovaError):
    status_code = 403


class NotFound(NovaError):
    status_code = 404


class Conflict(NovaError):
    status_code = 409


class PayloadTooLarge(NovaError):
    status_code = 413


class UnsupportedMediaType(NovaError):
    status_code = 415


class Unprocessable(NovaError):
    status_code = 422


class TooManyRequests(NovaError):
    status_code = 429

    def __init__(self, detail: Any, *, retry_after: int | None = None) -> None:
        headers = (
            {"Retry-After": str(max(1, int(retry_after)))} if retry_after is not None else None
        )
        super().__init__(detail, headers=headers)


class UnavailableForLegalReasons(NovaError):
    status_code = 451


class UpstreamError(NovaError):
    status_code = 502


class ServiceUnavailable(NovaError):
    status_code = 503


def _clean_validation_errors(errors: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Drop echoed input (it may hold a password) and non-JSON context from 422 bodies."""
    out = []
    for e in errors:
        item = {k: v for k, v in e.items() if k in ("loc", "msg", "type")}
        out.append(item)
    return out


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(NovaError)
    async def _nova_error(_: Request, exc: NovaError) -> JSONResponse:
        return JSONResponse({"detail": exc.detail}, exc.status_code, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse({"detail": _clean_validation_errors(list(exc.errors()))}, 422)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        return JSONResponse(
            {"detail": exc.detail}, exc.status_code, headers=getattr(exc, "headers", None)
        )

    @app.exception_handler(Exception)
    async def _unhandled(request: Request, exc: Exception) -> JSONResponse:
        rid = request.scope.get("nova.request_id")
        token = request_id_var.set(rid)
        try:
            log.exception("unhandled error on %s %s", request.method, request.url.path)
        finally:
            request_id_var.reset(token)
        headers = {"X-Request-Id": rid} if rid else None
        return JSONResponse({"detail": "Internal server error"}, 500, headers=headers)
