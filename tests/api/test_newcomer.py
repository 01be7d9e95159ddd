"""What a newcomer met in the first hour (issue 22), at the HTTP level: the API docs are
served from Nova itself, static assets have their own metrics label, the package metadata
carries an SPDX license."""

from __future__ import annotations

import importlib.metadata
import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


async def test_docs_and_redoc_load_every_asset_from_nova(client):
    for page in ("/docs", "/redoc"):
        r = await client.get(page)
        assert r.status_code == 200
        urls = re.findall(r"""(?:src|href)=["']([^"']+)["']|url: ?["']([^"']+)["']""", r.text)
        urls = [u for pair in urls for u in pair if u]
        assert urls, r.text
        for url in urls:
            assert url.startswith("/"), f"{page} loads {url} from another host"
            asset = await client.get(url)
            assert asset.status_code == 200, url
    js = await client.get("/docs-assets/swagger-ui-bundle.js")
    assert js.headers["content-type"].startswith(("text/javascript", "application/javascript"))
    assert len(js.content) > 100_000  # the real bundle, not a placeholder


async def test_static_assets_have_their_own_metrics_label(client):
    await client.get("/docs-assets/swagger-ui.css")
    await client.get("/docs-assets/missing.css")
    await client.get("/no/such/route")
    text = (await client.get("/metrics")).text
    assert 'nova_http_requests_total{method="GET",route="/docs-assets/{path}",status="200"}' in text
    assert 'nova_http_requests_total{method="GET",route="/docs-assets/{path}",status="404"}' in text
    assert 'route="unmatched",status="404"' in text  # a real miss is still "unmatched"


def test_license_is_an_spdx_expression():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["license"] == "Apache-2.0"
    # The installed metadata says so too (setuptools writes License-Expression for it).
    assert importlib.metadata.metadata("nova-voice")["License-Expression"] == "Apache-2.0"


async def test_referral_link_opens_sign_up_with_the_code(client):
    r = await client.get("/register", params={"ref": "ABC123"})
    assert r.status_code == 303 and r.headers["location"] == "/#/signup?ref=ABC123"
    r = await client.get("/register")
    assert r.headers["location"] == "/#/signup"


async def test_payment_config_and_the_csp_follow_the_stripe_settings(client, settings):
    from pydantic import SecretStr

    settings.stripe_api_key = None
    settings.stripe_publishable_key = None
    assert (await client.get("/billing/config")).json() == {"stripe": None, "ziina": False}
    csp = (await client.get("/")).headers["content-security-policy"]
    assert "script-src 'self';" in csp and "frame-src" not in csp and "stripe" not in csp

    settings.stripe_api_key = SecretStr("sk_test_x")
    settings.stripe_publishable_key = "pk_test_x"
    config = (await client.get("/billing/config")).json()
    assert config["stripe"] == {
        "publishable_key": "pk_test_x",
        "js_url": "https://js.stripe.com/v3/",
    }
    csp = (await client.get("/")).headers["content-security-policy"]
    assert "script-src 'self' https://js.stripe.com;" in csp
    assert csp.endswith("frame-src https://js.stripe.com https://hooks.stripe.com")
