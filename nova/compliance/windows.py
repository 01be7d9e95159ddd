"""The callee's time zones and the calling window in them.

A number's zones come from ``phonenumbers`` (its prefix), unless the lead names its own.
With several zones the window is their strictest intersection: an instant is open only
when it is inside the profile's window in every zone the callee might be in.
"""

from __future__ import annotations

import functools
import heapq
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers
from phonenumbers import timezone as pn_timezone

from nova.compliance.profiles import Profile

# How far ahead the next opening is searched: two weeks covers every weekly window and a
# seven-day cap, across a daylight-saving change.
HORIZON_DAYS = 15
UNKNOWN_ZONE = "Etc/Unknown"


@functools.lru_cache(maxsize=1024)
def zone(name: str) -> ZoneInfo | None:
    """The IANA zone called ``name``, None when there is no such zone."""
    if not name or name != name.strip() or ".." in name or name.startswith("/"):
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


@dataclass(frozen=True, slots=True)
class NumberFacts:
    region: str | None
    national_number: str
    zones: tuple[str, ...]


@functools.lru_cache(maxsize=8192)
def number_facts(phone: str) -> NumberFacts:
    """Region, national number and candidate time zones of an E.164 number."""
    try:
        parsed = phonenumbers.parse(phone, None)
    except phonenumbers.NumberParseException:
        return NumberFacts(None, "", ())
    zones = tuple(
        z
        for z in pn_timezone.time_zones_for_number(parsed)
        if z != UNKNOWN_ZONE and zone(z) is not None
    )
    return NumberFacts(
        phonenumbers.region_code_for_number(parsed),
        phonenumbers.national_significant_number(parsed),
        zones,
    )


def local_minute(t: datetime, tz: ZoneInfo) -> tuple[int, float, datetime]:
    local = t.astimezone(tz)
    return local.weekday(), local.hour * 60 + local.minute + local.second / 60, local


def open_everywhere(profile: Profile, zones: tuple[ZoneInfo, ...], t: datetime) -> bool:
    for tz in zones:
        weekday, minute, _ = local_minute(t, tz)
        if not profile.open_at(weekday, minute):
            return False
    return True


def _openings(profile: Profile, tz: ZoneInfo, t: datetime) -> Iterator[tuple[datetime, ZoneInfo]]:
    """The window openings in ``tz`` after ``t``, in time order."""
    starts = sorted({w.start for w in profile.windows})
    first = t.astimezone(tz).date() - timedelta(days=1)
    for offset in range(HORIZON_DAYS + 1):
        day = first + timedelta(days=offset)
        for start in starts:
            if not any(w.start == start and day.weekday() in w.days for w in profile.windows):
                continue
            # A start inside a daylight-saving gap resolves to just after the gap.
            local = datetime.combine(day, time(start // 60, start % 60), tzinfo=tz)
            instant = local.astimezone(UTC)
            if instant > t:
                yield instant, tz


def next_open(
    profile: Profile, zones: tuple[ZoneInfo, ...], t: datetime
) -> tuple[datetime, ZoneInfo | None] | None:
    """The first instant >= ``t`` inside the window in every zone, and the zone whose
    window opening it is (None when ``t`` itself is open); None when there is none within
    the horizon (e.g. zones too far apart for the windows to overlap).

    The intersection of the zones' windows can only begin where some zone's window
    begins, so those openings, merged in time order, are the only candidates."""
    if open_everywhere(profile, zones, t):
        return t, None
    merged = heapq.merge(*(_openings(profile, tz, t) for tz in zones), key=lambda c: c[0])
    for instant, tz in merged:
        if open_everywhere(profile, zones, instant):
            return instant, tz
    return None


def describe_local(t: datetime, tz: ZoneInfo) -> str:
    """``09:00 Asia/Dubai`` (with the date when it is not the same local day as now)."""
    local = t.astimezone(tz)
    return f"{local:%H:%M} {tz.key}"


def local_dates(t: datetime, zones: tuple[ZoneInfo, ...]) -> list[tuple[ZoneInfo, datetime]]:
    """For each zone, the start of the callee's next local day after ``t`` (UTC)."""
    out = []
    for tz in zones:
        local = t.astimezone(tz)
        tomorrow = datetime.combine(local.date() + timedelta(days=1), time(0), tzinfo=tz)
        out.append((tz, tomorrow.astimezone(UTC)))
    return out
