"""The website fetch: once per batch, cached, capped, timed, and SSRF-safe (literal and
resolved private addresses, IPv6, decimal/octal encodings, redirects)."""

from __future__ import annotations

import pytest

from nova.calls import scrape
from nova.core import netguard
from tests.calls.conftest import leads, payload


async def _context(client, body: dict) -> dict:
    r = await client.post("/calls", json=body)
    assert r.status_code == 200, r.text
    return (await client.get(f"/contexts/{r.json()['calls'][0]['context_id']}")).json()


def test_html_to_text_drops_scripts_and_styles():
    from tests.calls.conftest import HTML

    text, title, desc = scrape.html_to_text(HTML)
    assert title == "CloudSync CRM - Sync every deal"
    assert desc == "The CRM for mid-market teams in the Gulf."
    assert "AED 99 per seat" in text
    assert "do-not-index" not in text and "color:red" not in text and "enable js" not in text


async def test_site_is_fetched_once_per_batch_and_cached(client, livekit, site, clock, settings):
    ctx = await _context(client, payload(website_url=site.url + "/", leads=leads(3)))
    assert site.hits["/"] == 1
    assert "Website title: CloudSync CRM - Sync every deal" in ctx["product_facts"]
    assert any("AED 99 per seat" in f for f in ctx["product_facts"])
    assert ctx["source_note"] == "no LLM configured"
    await _context(client, payload(website_url=site.url + "/"))
    assert site.hits["/"] == 1  # cached
    clock.advance(seconds=settings.scrape_cache_ttl_seconds)
    await _context(client, payload(website_url=site.url + "/"))
    assert site.hits["/"] == 2


async def test_site_text_reaches_the_llm(client, livekit, site, openai_fake):
    from tests.calls.conftest import brief_json

    openai_fake.chat = lambda body: brief_json()
    await _context(client, payload(website_url=site.url + "/", leads=leads(2)))
    assert site.hits["/"] == 1
    for req in openai_fake.requests:
        assert "AED 99 per seat" in req["messages"][1]["content"]
        assert "do-not-index" not in req["messages"][1]["content"]


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/",
        "http://10.1.2.3/",
        "http://192.168.1.1/admin",
        "http://169.254.169.254/latest/meta-data/",
        "http://100.64.0.1/",
        "http://[::1]/",
        "http://[fd00::1]/",
        "http://[::ffff:127.0.0.1]/",
        "http://2130706433/",
        "http://0177.0.0.1/",
        "http://0x7f.1/",
        "http://localhost:8000/",
        "http://metadata.google.internal/",
        "ftp://example.com/",
        "file:///etc/passwd",
        "http://user:pw@example.com/",
    ],
)
async def test_unsafe_website_urls_are_refused_up_front(client, livekit, url):
    r = await client.post("/calls", json=payload(website_url=url))
    assert r.status_code == 400, r.text
    assert r.json()["detail"].startswith("website_url is not allowed")


async def test_name_resolving_to_loopback_is_never_contacted(
    client, livekit, site, settings, monkeypatch
):
    settings.ssrf_allow_cidrs = []

    async def fake_resolve(host: str, port: int) -> list[str]:
        return ["93.184.216.34", "127.0.0.1"] if host == "evil.example" else []

    monkeypatch.setattr(netguard, "resolve", fake_resolve)
    ctx = await _context(client, payload(website_url=f"http://evil.example:{site.port}/"))
    assert sum(site.hits.values()) == 0
    assert "website not used: blocked by the SSRF guard" in ctx["source_note"]
    assert "127.0.0.1" in ctx["source_note"]


async def test_unresolvable_name_fails_closed(settings, monkeypatch):
    async def no_dns(host: str, port: int) -> list[str]:
        raise OSError("Name or service not known")

    monkeypatch.setattr(netguard, "resolve", no_dns)
    result = await scrape.fetch_site(settings, "https://nowhere.example/")
    assert not result.ok and "could not resolve" in result.error


@pytest.mark.parametrize(
    "target",
    [
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]/",
        "http://10.0.0.5/",
        "file:///etc/passwd",
    ],
)
async def test_redirect_to_a_private_address_is_not_followed(client, livekit, site, target):
    site.redirects["/go"] = target
    ctx = await _context(client, payload(website_url=site.url + "/go"))
    assert site.hits["/go"] == 1
    assert "website not used: blocked by the SSRF guard" in ctx["source_note"]


async def test_redirects_are_followed_up_to_three(settings, site):
    site.redirects["/a"] = "/"
    result = await scrape.fetch_site(settings, site.url + "/a")
    assert result.ok and result.final_url == site.url + "/"
    result = await scrape.fetch_site(settings, site.url + "/hop0")
    assert result.error == "more than 3 redirects"
    assert site.hits["/hop3"] == 1 and site.hits["/hop4"] == 0


async def test_body_is_capped_while_streaming(settings, site):
    settings.scrape_max_bytes = 15_000
    result = await scrape.fetch_site(settings, site.url + "/big")
    assert result.ok
    assert 10_000 < len(result.text) <= 15_000
    assert site.hits["/big:chunks"] < 4000  # the client hung up early


async def test_slow_site_times_out(settings, site):
    settings.scrape_timeout_seconds = 0.2
    result = await scrape.fetch_site(settings, site.url + "/slow")
    assert result.error == "timed out after 0.2 s"


async def test_non_html_and_errors_are_not_used(settings, site):
    assert (await scrape.fetch_site(settings, site.url + "/pdf")).error == (
        "unsupported content type application/pdf"
    )
    assert (await scrape.fetch_site(settings, site.url + "/missing")).error == (
        "website answered HTTP 404"
    )
    # Failures are not cached.
    await scrape.fetch_site(settings, site.url + "/missing")
    assert site.hits["/missing"] == 2
