"""Calling windows in the callee's local time: per-country profiles, several zones (the
strictest intersection), the lead's own zone, daylight-saving edges. Time is passed in, never
waited for."""

from __future__ import annotations

from nova.compliance import Allowed, Blocked, Deferred
from nova.compliance.profiles import ProfileError, load
from tests.compliance.helpers import (
    ALASKA,
    DUBAI,
    LONDON,
    LOS_ANGELES,
    NEW_YORK,
    SAO_PAULO,
    TOLL_FREE,
    at,
    gate,
)


async def test_uae_window_is_09_to_18_dubai_time_and_its_end_is_exclusive():
    early = await gate(DUBAI, at("2026-06-12 08:59", "Asia/Dubai"))
    assert isinstance(early, Deferred) and early.rule == "window"
    assert early.until == at("2026-06-12 09:00", "Asia/Dubai")
    assert "may be called from 09:00 Asia/Dubai (2026-06-12T05:00:00Z)" in early.reason
    assert (early.country, early.profile, early.zones) == ("AE", "ae", ("Asia/Dubai",))
    assert isinstance(await gate(DUBAI, at("2026-06-12 09:00", "Asia/Dubai")), Allowed)
    assert isinstance(await gate(DUBAI, at("2026-06-12 17:59", "Asia/Dubai")), Allowed)
    late = await gate(DUBAI, at("2026-06-12 18:00", "Asia/Dubai"))
    assert isinstance(late, Deferred)
    assert late.until == at("2026-06-13 09:00", "Asia/Dubai")
    assert "it is Fri 18:00 Asia/Dubai" in late.reason


async def test_us_window_is_08_to_21_in_the_numbers_own_zone():
    ny = await gate(NEW_YORK, at("2026-06-12 07:59", "America/New_York"))
    assert isinstance(ny, Deferred) and ny.until == at("2026-06-12 08:00", "America/New_York")
    assert "08:00 America/New_York" in ny.reason
    assert isinstance(await gate(NEW_YORK, at("2026-06-12 20:59", "America/New_York")), Allowed)
    closed = await gate(NEW_YORK, at("2026-06-12 21:00", "America/New_York"))
    assert closed.until == at("2026-06-13 08:00", "America/New_York")
    # The same instant is fine on the west coast (18:00 there) …
    assert isinstance(await gate(LOS_ANGELES, at("2026-06-12 21:00", "America/New_York")), Allowed)
    # … and too early there when New York opens.
    la = await gate(LOS_ANGELES, at("2026-06-12 08:00", "America/New_York"))
    assert la.until == at("2026-06-12 08:00", "America/Los_Angeles")


async def test_several_zones_take_the_strictest_intersection():
    # +1 907: Alaska, either America/Anchorage or America/Adak (an hour behind).
    morning = await gate(ALASKA, at("2026-06-12 08:30", "America/Anchorage"))
    assert isinstance(morning, Deferred)
    assert set(morning.zones) == {"America/Adak", "America/Anchorage"}
    # Open only once it is 08:00 in Adak too (09:00 in Anchorage).
    assert morning.until == at("2026-06-12 08:00", "America/Adak")
    assert "08:00 America/Adak" in morning.reason
    assert isinstance(await gate(ALASKA, at("2026-06-12 20:59", "America/Anchorage")), Allowed)
    # Closed once it is 21:00 in Anchorage, although Adak is still at 20:00.
    evening = await gate(ALASKA, at("2026-06-12 21:00", "America/Anchorage"))
    assert evening.until == at("2026-06-13 08:00", "America/Adak")


async def test_a_toll_free_number_waits_for_the_hours_open_in_every_nanp_zone():
    # +1 800 may ring anywhere from Guam (UTC+10) to Newfoundland (UTC-2:30): open only
    # while it is 08:00-21:00 in all of them, i.e. from 08:00 in Guam (22:00Z).
    toll_free = await gate(TOLL_FREE, at("2026-06-12 16:00"))
    assert isinstance(toll_free, Deferred) and len(toll_free.zones) > 30
    assert toll_free.until == at("2026-06-12 22:00")
    assert "08:00 Pacific/Guam" in toll_free.reason
    assert "and 39 more" in toll_free.reason and len(toll_free.reason) < 300
    with_zone = await gate(TOLL_FREE, at("2026-06-12 16:00"), timezone="America/Chicago")
    assert isinstance(with_zone, Allowed) and with_zone.zones == ("America/Chicago",)


async def test_zones_whose_windows_never_overlap_block_until_the_lead_gives_its_zone(
    settings, tmp_path
):
    narrow = tmp_path / "narrow.toml"
    narrow.write_text(
        '[us]\nname = "US, two hours"\nregions = ["US"]\nconsent_required = false\n'
        'windows = [{ start = "09:00", end = "11:00" }]\n'
    )
    settings.compliance_profiles_file = str(narrow)
    toll_free = await gate(TOLL_FREE, at("2026-06-12 16:00"))
    assert isinstance(toll_free, Blocked) and toll_free.rule == "window"
    assert "no time in the next two weeks" in toll_free.reason
    assert "give the lead's timezone" in toll_free.reason
    with_zone = await gate(TOLL_FREE, at("2026-06-12 16:00"), timezone="America/Chicago")
    assert isinstance(with_zone, Deferred)
    assert with_zone.until == at("2026-06-13 09:00", "America/Chicago")


async def test_the_leads_own_zone_overrides_the_numbers():
    # A New York number whose owner lives in Dubai: 12:30 there, 04:30 in New York.
    now = at("2026-06-12 12:30", "Asia/Dubai")
    assert isinstance(await gate(NEW_YORK, now), Deferred)
    moved = await gate(NEW_YORK, now, timezone="Asia/Dubai")
    assert isinstance(moved, Allowed)
    assert moved.profile == "us"  # the rules are still the number's country's
    assert moved.zones == ("Asia/Dubai",) and moved.detail["zones_from"] == "lead"
    # and the window follows the lead's zone: 21:00 in Dubai is closed.
    later = await gate(NEW_YORK, at("2026-06-12 21:00", "Asia/Dubai"), timezone="Asia/Dubai")
    assert later.until == at("2026-06-13 08:00", "Asia/Dubai")


async def test_uk_is_08_to_21_monday_to_saturday_and_needs_consent():
    sunday = await gate(LONDON, at("2026-06-14 12:00", "Europe/London"))
    assert isinstance(sunday, Deferred)
    assert sunday.until == at("2026-06-15 08:00", "Europe/London")
    assert isinstance(await gate(LONDON, at("2026-06-13 20:59", "Europe/London")), Allowed)
    saturday_night = await gate(LONDON, at("2026-06-13 21:00", "Europe/London"))
    assert saturday_night.until == at("2026-06-15 08:00", "Europe/London")  # Sunday skipped
    no_consent = await gate(LONDON, at("2026-06-13 12:00", "Europe/London"), consent=None)
    assert isinstance(no_consent, Blocked) and no_consent.rule == "consent"
    assert "United Kingdom requires the lead's consent" in no_consent.reason


async def test_default_profile_is_weekday_daytime_with_consent():
    friday_evening = await gate(SAO_PAULO, at("2026-06-12 20:00", "America/Sao_Paulo"))
    assert friday_evening.profile == "default" and friday_evening.country == "BR"
    assert friday_evening.until == at("2026-06-15 09:00", "America/Sao_Paulo")
    assert isinstance(await gate(SAO_PAULO, at("2026-06-12 19:59", "America/Sao_Paulo")), Allowed)
    no_consent = await gate(SAO_PAULO, at("2026-06-12 12:00", "America/Sao_Paulo"), consent=None)
    assert isinstance(no_consent, Blocked) and no_consent.rule == "consent"
    # The UAE profile does not ask for a consent record.
    assert isinstance(
        await gate(DUBAI, at("2026-06-12 12:00", "Asia/Dubai"), consent=None), Allowed
    )


async def test_daylight_saving_starts_new_york():
    # 2026-03-08: clocks go from 02:00 EST to 03:00 EDT. 08:00 is 13:00Z the day before
    # and 12:00Z that day.
    assert (await gate(NEW_YORK, at("2026-03-07 11:30"))).until == at("2026-03-07 13:00")
    assert (await gate(NEW_YORK, at("2026-03-08 11:30"))).until == at("2026-03-08 12:00")
    # Deferred on Saturday night across the change: Sunday 08:00 EDT, not 08:00 EST.
    saturday_night = await gate(NEW_YORK, at("2026-03-08 02:30"))  # Sat 21:30 EST
    assert saturday_night.until == at("2026-03-08 12:00")
    assert "08:00 America/New_York" in saturday_night.reason
    assert isinstance(await gate(NEW_YORK, at("2026-03-08 12:00")), Allowed)


async def test_daylight_saving_ends_new_york_and_starts_london():
    # 2026-11-01: back from EDT to EST at 06:00Z. Deferred from Saturday 21:30 EDT.
    assert (await gate(NEW_YORK, at("2026-11-01 01:30"))).until == at("2026-11-01 13:00")
    # The window end follows local time too: 20:59 EST is 01:59Z.
    assert isinstance(await gate(NEW_YORK, at("2026-11-02 01:59")), Allowed)
    assert isinstance(await gate(NEW_YORK, at("2026-11-02 02:00")), Deferred)
    # London, 2026-03-29 (Sunday): GMT → BST. Monday 07:30Z is 08:30 BST, open; a week
    # before it was 07:30 GMT, closed until 08:00Z.
    assert isinstance(await gate(LONDON, at("2026-03-30 07:30")), Allowed)
    assert (await gate(LONDON, at("2026-03-23 07:30"))).until == at("2026-03-23 08:00")
    # Saturday 21:00 GMT → Monday 08:00 BST (07:00Z), the Sunday of the change skipped.
    assert (await gate(LONDON, at("2026-03-28 21:00"))).until == at("2026-03-30 07:00")


def test_an_operator_file_adds_and_replaces_profiles(tmp_path):
    extra = tmp_path / "profiles.toml"
    extra.write_text(
        '[ae]\nname = "UAE, stricter"\nregions = ["AE"]\nconsent_required = true\n'
        'windows = [{ days = ["mon", "tue", "wed", "thu", "fri"], start = "10:00", end = "17:00" }]\n'
        '[br]\nname = "Brazil"\nregions = ["BR"]\nconsent_required = false\n'
        'windows = [{ start = "09:00", end = "21:00" }]\n'
    )
    profiles = load(str(extra))
    ae = profiles.for_number("AE", "501234567")
    assert ae.name == "UAE, stricter" and ae.consent_required and not ae.caps
    assert profiles.for_number("BR", "11987654321").key == "br"
    assert profiles.for_number("US", "3055550100").key == "us_fl"  # built-ins stay
    assert profiles.for_number("US", "2125550100").key == "us"
    assert profiles.for_number("FR", "612345678").key == "default"


def test_unusable_profiles_are_refused_with_the_reason(tmp_path):
    cases = {
        '[x]\nregions = ["X"]\nwindows = [{ start = "21:00", end = "08:00" }]\n': "cross midnight",
        '[x]\nregions = ["X"]\nwindows = []\n': "at least one window",
        '[x]\nregions = ["X"]\nwindows = [{ start = "8am", end = "20:00" }]\n': "not a time",
        '[x]\nregions = ["X"]\nwindows = [{ days = ["funday"], start = "08:00", end = "20:00" }]\n': "days",
        '[x]\nregions = ["X"]\nwindows = [{ start = "08:00", end = "20:00" }]\n'
        'caps = [{ max = 1, per = "month" }]\n': "per must be",
        "[x\n": "not valid TOML",
    }
    for i, (text, message) in enumerate(cases.items()):
        path = tmp_path / f"bad{i}.toml"
        path.write_text(text)
        try:
            load(str(path))
        except ProfileError as exc:
            assert message in str(exc), (text, str(exc))
        else:
            raise AssertionError(f"accepted: {text!r}")


async def test_a_server_with_unusable_profiles_does_not_start(settings, tmp_path):
    from nova.api.app import LIFESPAN_HOOKS
    from nova.compliance.router import _check_profiles

    assert _check_profiles in LIFESPAN_HOOKS  # entered by the app's lifespan at start-up
    bad = tmp_path / "bad.toml"
    bad.write_text('[ae]\nregions = ["AE"]\nwindows = [{ start = "18:00", end = "09:00" }]\n')
    settings.compliance_profiles_file = str(bad)
    try:
        async with _check_profiles(None):
            raise AssertionError("started with an unusable profiles file")
    except ProfileError as exc:
        assert "ae.windows[0]: start must be before end" in str(exc)
