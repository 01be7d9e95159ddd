"""The gated surfaces in Chromium: bring-your-own Twilio and voice cloning, shown only to
accounts whose feature flag is on."""

from __future__ import annotations

from playwright.async_api import expect

from tests.twilio_byo.conftest import set_flags
from tests.twilio_byo.fake_twilio import ACCOUNT_SID, API_KEY_SECRET, API_KEY_SID
from tests.web.conftest import sign_up, snap


async def test_byo_twilio_credentials_import_verify_default(page, twilio, livekit):
    user_id = await sign_up(page, "own-numbers@example.com")
    await expect(page.get_by_role("link", name="Twilio")).to_have_count(0)  # flag off
    await set_flags(user_id, byo_twilio=True)
    await page.reload()
    await page.get_by_role("link", name="Twilio").click()
    await expect(page.locator("#credential-status")).to_contain_text("No credentials saved.")

    await page.get_by_label("Account SID").fill("AC123")
    await page.get_by_role("button", name="Save credentials").click()
    await expect(page.get_by_role("alert")).to_contain_text("starts with AC")
    await page.get_by_label("Account SID").fill(ACCOUNT_SID)
    await page.get_by_label("API key SID").fill(API_KEY_SID)
    await page.get_by_label("API key secret").fill(API_KEY_SECRET)
    twilio.add_number("+14155550123")
    await page.get_by_role("button", name="Save credentials").click()
    await expect(page.locator("#credential-status")).to_contain_text(f"…{ACCOUNT_SID[-4:]}")
    assert API_KEY_SECRET not in await page.content()
    await page.get_by_role("button", name="Check with Twilio").click()
    await expect(page.locator("#credential-status")).to_contain_text("they work")

    await page.get_by_role("button", name="Import +14155550123").click()
    number = page.locator("article[data-number='+14155550123']")
    await expect(number).to_contain_text("not verified")
    await number.get_by_role("button", name="Verify").click()
    await expect(number.get_by_role("alert")).to_contain_text("6-digit code")
    await number.get_by_role("button", name="Text me a code").click()
    await expect(page.get_by_text("Code sent to +14155550123.")).to_be_visible()
    body = twilio.messages[-1]["Body"]
    code = body.split("code is ")[1][:6]
    wrong = "000000" if code != "000000" else "111111"
    await number.get_by_label("Code for +14155550123").fill(wrong)
    await number.get_by_role("button", name="Verify").click()
    await expect(number.get_by_role("alert")).to_contain_text("attempts left")
    await number.get_by_label("Code for +14155550123").fill(code)
    await number.get_by_role("button", name="Verify").click()
    await expect(number).to_contain_text("verified")
    await number.get_by_role("button", name="Use for my calls").click()
    await expect(number).to_contain_text("Caller ID for your calls")
    await snap(page, "50-twilio")
    assert page.console_errors == []


async def test_voice_consent_upload_with_progress_status_activate(page, provider, pump, tmp_path):
    from tests.voice.conftest import WAV, set_user

    user_id = await sign_up(page, "my-voice@example.com")
    await expect(page.get_by_role("link", name="Voice")).to_have_count(0)  # flag off
    await set_user(user_id, features={"voice_cloning": True}, country="DE")
    await page.reload()
    await page.get_by_role("link", name="Voice").click()
    await expect(page.get_by_label("Consent text")).to_contain_text("voice")
    upload = page.get_by_role("button", name="Upload recording")
    await expect(upload).to_be_disabled()  # consent first

    await page.get_by_role("button", name="Sign consent").click()
    await expect(page.get_by_role("alert")).to_contain_text("Type your full name")
    await page.get_by_label("Type your full name to sign").fill("Ada Lovelace")
    await page.get_by_role("button", name="Sign consent").click()
    await expect(page.locator("#consent-status")).to_contain_text("Signed on")
    await expect(upload).to_be_enabled()

    recording = tmp_path / "me.wav"
    recording.write_bytes(WAV + b"\x01" * 600_000)
    await upload.click()
    await expect(page.get_by_role("alert")).to_have_text("Choose a recording first.")
    await page.get_by_label("Recording").set_input_files(str(recording))
    await upload.click()  # the account's country is in the EU: refused with the API's reason
    await expect(page.get_by_role("alert")).to_contain_text("not available in the EU/EEA/UK")

    await set_user(user_id, country="AE")
    not_audio = tmp_path / "notes.wav"
    not_audio.write_text("these are not sounds")
    await page.get_by_label("Recording").set_input_files(str(not_audio))
    await upload.click()
    await expect(page.get_by_role("alert")).to_contain_text("Unsupported audio")

    await page.get_by_label("Recording").set_input_files(str(recording))
    await page.get_by_label("Name (optional)").fill("Ada studio")
    # Record what the progress line says while the file goes up (XHR upload progress).
    await page.evaluate(
        """() => {
          const line = document.querySelector("form p[aria-live=polite]");
          window.__progress = [];
          new MutationObserver(() => window.__progress.push(line.textContent))
            .observe(line, {childList: true, characterData: true, subtree: true});
        }"""
    )
    await upload.click()
    await expect(page.get_by_text("Uploaded. Your voice is being cloned")).to_be_visible()
    seen = await page.evaluate("window.__progress")
    assert "Uploading… 100%" in seen, seen
    profile = page.locator("article[data-profile]")
    await expect(profile).to_contain_text("processing")
    await snap(page, "51-voice-processing")

    # One upload per 24 hours: a second one is refused, in words.
    await page.get_by_label("Recording").set_input_files(str(recording))
    await upload.click()
    await expect(page.locator("form [role=alert]")).to_contain_text("24")

    assert await pump.drain() >= 1  # the cloning task, against the provider fake
    await expect(profile).to_contain_text("ready", timeout=10000)
    await profile.get_by_role("button", name="Use for my calls").click()
    await expect(profile).to_contain_text("Used for your calls")
    await profile.get_by_role("button", name="Preview").click()
    await expect(profile.locator("audio")).to_have_count(1)
    await snap(page, "52-voice-ready")
    assert page.console_errors == []
