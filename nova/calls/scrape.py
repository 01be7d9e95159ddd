"""SSRF-safe website fetch for briefs.

One GET per batch (callers fetch once and share the text), through Nova's SSRF guard:

- http/https only; every address the host resolves to is vetted (no private, loopback,
  link-local/metadata, CGNAT, multicast, reserved targets) and the connection goes to the
  vetted address only (``nova.core.netguard``);
- redirects are followed by hand, at most ``MAX_REDIRECTS``, each new URL vetted again;
- one overall time budget (``scrape_timeout_seconds``, 5 s) covers DNS, redirects and body;
- the body is read while streaming and cut at ``scrape_max_bytes`` (1 MB);
- HTML is turned into text with the standard library's ``html.parser``;
- successful results are cached per URL for ``scrape_cache_ttl_seconds``.

A fetch never raises for the batch: it returns a ``ScrapeResult`` whose ``error`` explains
why no text is available, and the brief is built without the website.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import re
from collections import OrderedDict
from dataclasses import dataclass
from html.parser import HTMLParser
from urllib.parse import urljoin

import httpx

from nova import __version__
from nova.core import clock, netguard
from nova.core.settings import Settings

log = logging.getLogger("nova.calls.scrape")

MAX_REDIRECTS = 3
SCHEMES = ("https", "http")
MAX_TEXT_CHARS = 20_000
CACHE_MAX_ENTRIES = 512
_TEXT_TYPES = ("text/html", "application/xhtml+xml", "text/plain")
_SKIP_TAGS = {"script", "style", "noscript", "template", "svg", "head", "iframe", "canvas"}
_BLOCK_TAGS = {
    "p", "div", "br", "li", "ul", "ol", "h1", "h2", "h3", "h4", "h5", "h6", "section",
    "article", "header", "footer", "tr", "table", "blockquote", "main", "nav", "aside",
}  # fmt: skip


@dataclass(frozen=True)
class ScrapeResult:
    url: str
    text: str = ""
    title: str | None = None
    description: str | None = None
    final_url: str | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None and bool(self.text or self.title or self.description)


class _TextExtractor(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.title: list[str] = []
        self.description: str | None = None
        self._skip = 0
        self._in_title = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "title":
            self._in_title = True
        elif tag == "meta":
            a = {k.lower(): (v or "") for k, v in attrs}
            if a.get("name", "").lower() in ("description", "og:description") or a.get(
                "property", ""
            ).lower() in ("og:description",):
                self.description = self.description or a.get("content", "").strip() or None
        if tag in _SKIP_TAGS and tag != "head":
            self._skip += 1
        if tag in _BLOCK_TAGS:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag == "title":
            self._in_title = False
        if tag in _SKIP_TAGS and tag != "head" and self._skip:
            self._skip -= 1
        if tag in _BLOCK_TAGS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title.append(data)
            return
        if not self._skip:
            self.parts.append(data)


def html_to_text(html: str) -> tuple[str, str | None, str | None]:
    """(visible text, title, meta description) of an HTML document."""
    parser = _TextExtractor()
    try:
        parser.feed(html)
        parser.close()
    except Exception:  # noqa: BLE001 - html.parser is lenient; never fail a batch on markup
        log.debug("html parse error", exc_info=True)
    text = "".join(parser.parts)
    lines = [re.sub(r"[ \t\r\f\v\u00a0]+", " ", ln).strip() for ln in text.split("\n")]
    text = "\n".join(ln for ln in lines if ln)
    title = re.sub(r"\s+", " ", "".join(parser.title)).strip() or None
    return text[:MAX_TEXT_CHARS], title, parser.description


class _Cache:
    """Per-URL cache of successful fetches, with in-flight sharing so concurrent batches
    for the same site cause one request."""

    def __init__(self) -> None:
        self._items: OrderedDict[str, tuple[float, ScrapeResult]] = OrderedDict()
        self._inflight: dict[str, asyncio.Future[ScrapeResult]] = {}

    def get(self, url: str) -> ScrapeResult | None:
        item = self._items.get(url)
        if item is None:
            return None
        expires, result = item
        if clock.monotonic() >= expires:
            self._items.pop(url, None)
            return None
        self._items.move_to_end(url)
        return result

    def put(self, url: str, result: ScrapeResult, ttl: float) -> None:
        self._items[url] = (clock.monotonic() + ttl, result)
        self._items.move_to_end(url)
        while len(self._items) > CACHE_MAX_ENTRIES:
            self._items.popitem(last=False)

    def clear(self) -> None:
        self._items.clear()
        self._inflight.clear()


_cache = _Cache()


def clear_cache() -> None:
    _cache.clear()


def _networks(settings: Settings) -> list[ipaddress._BaseNetwork]:
    return netguard.parse_networks(settings.ssrf_allow_cidrs)


def check_website_url(settings: Settings, url: str) -> None:
    """Static checks (no DNS) used at validation time: raises ``netguard.UnsafeTarget``."""
    netguard.check_url(url, schemes=SCHEMES, allowed=_networks(settings))


async def _open(
    client: httpx.AsyncClient, url: str, allowed: list[ipaddress._BaseNetwork]
) -> httpx.Response:
    """Open ``url`` as a stream on its vetted address (the Host header and TLS name keep the
    original host). Never follows redirects."""
    pinned = await netguard.pin(url, schemes=SCHEMES, allowed=allowed)
    request = client.build_request(
        "GET",
        pinned.url,
        headers={
            "Host": pinned.host_header,
            "User-Agent": f"NovaBot/{__version__} (+brief generation)",
            "Accept": "text/html,application/xhtml+xml,text/plain;q=0.8",
            "Accept-Encoding": "identity",
        },
        extensions={"sni_hostname": pinned.server_hostname} if pinned.server_hostname else {},
    )
    return await client.send(request, stream=True, follow_redirects=False)


async def _read_capped(response: httpx.Response, cap: int) -> tuple[bytes, bool]:
    chunks: list[bytes] = []
    size = 0
    # We ask for an identity encoding; if a server compresses anyway, the cap applies to
    # the decoded bytes, which is what costs memory.
    async for chunk in response.aiter_bytes():
        chunks.append(chunk)
        size += len(chunk)
        if size >= cap:
            return b"".join(chunks)[:cap], True
    return b"".join(chunks), False


async def _fetch_uncached(settings: Settings, url: str) -> ScrapeResult:
    allowed = _networks(settings)
    current = url
    async with httpx.AsyncClient(
        timeout=settings.scrape_timeout_seconds, trust_env=False
    ) as client:
        for hop in range(MAX_REDIRECTS + 1):
            response = await _open(client, current, allowed)
            try:
                if response.is_redirect:
                    location = response.headers.get("location")
                    if not location:
                        return ScrapeResult(url, error="redirect without a Location header")
                    if hop == MAX_REDIRECTS:
                        return ScrapeResult(url, error=f"more than {MAX_REDIRECTS} redirects")
                    current = urljoin(current, location)
                    continue
                if response.status_code != 200:
                    return ScrapeResult(url, error=f"website answered HTTP {response.status_code}")
                ctype = response.headers.get("content-type", "text/html").split(";")[0].strip()
                if ctype.lower() not in _TEXT_TYPES:
                    return ScrapeResult(url, error=f"unsupported content type {ctype}")
                raw, truncated = await _read_capped(response, settings.scrape_max_bytes)
            finally:
                await response.aclose()
            encoding = response.charset_encoding or "utf-8"
            try:
                body = raw.decode(encoding, errors="replace")
            except LookupError:
                body = raw.decode("utf-8", errors="replace")
            if ctype.lower() == "text/plain":
                text, title, desc = body[:MAX_TEXT_CHARS], None, None
            else:
                text, title, desc = html_to_text(body)
            if truncated:
                log.info("website %s cut at %d bytes", url, settings.scrape_max_bytes)
            return ScrapeResult(url, text=text, title=title, description=desc, final_url=current)
    return ScrapeResult(url, error="redirect loop")  # pragma: no cover - loop always returns


async def fetch_site(settings: Settings, url: str) -> ScrapeResult:
    """Fetch ``url`` (cached). Never raises: failures come back in ``ScrapeResult.error``."""
    cached = _cache.get(url)
    if cached is not None:
        return cached
    pending = _cache._inflight.get(url)
    if pending is not None:
        return await asyncio.shield(pending)
    loop = asyncio.get_running_loop()
    fut: asyncio.Future[ScrapeResult] = loop.create_future()
    _cache._inflight[url] = fut
    try:
        try:
            async with asyncio.timeout(settings.scrape_timeout_seconds):
                result = await _fetch_uncached(settings, url)
        except netguard.UnsafeTarget as exc:
            result = ScrapeResult(url, error=f"blocked by the SSRF guard: {exc}")
        except TimeoutError:
            result = ScrapeResult(
                url, error=f"timed out after {settings.scrape_timeout_seconds:g} s"
            )
        except httpx.HTTPError as exc:
            result = ScrapeResult(url, error=f"fetch failed: {type(exc).__name__}: {exc}"[:300])
        except Exception as exc:  # noqa: BLE001 - a website problem never fails a batch
            log.warning("unexpected error fetching %s", url, exc_info=True)
            result = ScrapeResult(url, error=f"fetch failed: {type(exc).__name__}")
        if result.ok:
            _cache.put(url, result, settings.scrape_cache_ttl_seconds)
        if result.error:
            log.info("website %s not used: %s", url, result.error)
        fut.set_result(result)
        return result
    except BaseException as exc:
        if not fut.done():
            if isinstance(exc, asyncio.CancelledError):
                fut.cancel()
            else:
                fut.set_exception(exc)
                fut.exception()  # mark retrieved
        raise
    finally:
        _cache._inflight.pop(url, None)
