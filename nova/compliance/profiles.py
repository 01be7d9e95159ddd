"""Country profiles: when a number may be called, how often, and whether consent is needed.

The rules are data (``profiles.toml`` beside this module, optionally extended or replaced
key by key by the operator's ``NOVA_COMPLIANCE_PROFILES_FILE``); this module only parses and
checks them, and picks the profile of a number.
"""

from __future__ import annotations

import functools
import tomllib
from dataclasses import dataclass
from datetime import time
from pathlib import Path
from typing import Any, Literal

DAYS: tuple[str, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
BUILTIN_FILE = Path(__file__).with_name("profiles.toml")
DEFAULT_KEY = "default"

CapScope = Literal["always", "unanswered"]
CapPeriod = Literal["day", "24h", "7d"]


class ProfileError(ValueError):
    """A profiles file that cannot be used (the server refuses to start with it)."""


@dataclass(frozen=True, slots=True)
class Window:
    """Calls may start on ``days`` (0 = Monday) from ``start`` (inclusive) to ``end``
    (exclusive), callee-local wall-clock time. Minutes since midnight; ``end`` may be 1440."""

    days: frozenset[int]
    start: int
    end: int

    def contains(self, weekday: int, minute_of_day: float) -> bool:
        return weekday in self.days and self.start <= minute_of_day < self.end

    def describe(self) -> str:
        days = _describe_days(self.days)
        return f"{_hhmm(self.start)}–{_hhmm(self.end)} {days}"


@dataclass(frozen=True, slots=True)
class Cap:
    max: int
    per: CapPeriod
    when: CapScope

    def describe(self) -> str:
        per = {"day": "a day", "24h": "per 24 hours", "7d": "per 7 days"}[self.per]
        who = " to a number that did not answer" if self.when == "unanswered" else ""
        return f"at most {self.max} call{'s' if self.max != 1 else ''} {per}{who}"


@dataclass(frozen=True, slots=True)
class Profile:
    key: str
    name: str
    regions: frozenset[str]
    area_codes: tuple[str, ...]
    consent_required: bool
    windows: tuple[Window, ...]
    caps: tuple[Cap, ...]
    note: str

    def describe_windows(self) -> str:
        return _windows_text(self.windows)

    def open_at(self, weekday: int, minute_of_day: float) -> bool:
        return any(w.contains(weekday, minute_of_day) for w in self.windows)


@functools.lru_cache(maxsize=64)
def _windows_text(windows: tuple[Window, ...]) -> str:
    return "; ".join(w.describe() for w in windows)


def _hhmm(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def _describe_days(days: frozenset[int]) -> str:
    if len(days) == 7:
        return "every day"
    ordered = sorted(days)
    if ordered == list(range(ordered[0], ordered[-1] + 1)) and len(ordered) > 2:
        return f"{DAYS[ordered[0]].title()}–{DAYS[ordered[-1]].title()}"
    return ", ".join(DAYS[d].title() for d in ordered)


def _minutes(value: Any, where: str) -> int:
    if value == "24:00":
        return 24 * 60
    try:
        t = time.fromisoformat(str(value))
    except ValueError:
        raise ProfileError(f"{where}: {value!r} is not a time like '08:00'") from None
    return t.hour * 60 + t.minute


def _window(raw: Any, where: str) -> Window:
    if not isinstance(raw, dict):
        raise ProfileError(f"{where} must be a table with days, start and end")
    days = raw.get("days", list(DAYS))
    if not isinstance(days, list) or not days or any(d not in DAYS for d in days):
        raise ProfileError(f"{where}.days must be a non-empty list of {', '.join(DAYS)}")
    start, end = (
        _minutes(raw.get("start"), f"{where}.start"),
        _minutes(raw.get("end"), f"{where}.end"),
    )
    if not start < end:
        raise ProfileError(f"{where}: start must be before end (windows cannot cross midnight)")
    return Window(frozenset(DAYS.index(d) for d in days), start, end)


def _cap(raw: Any, where: str) -> Cap:
    if not isinstance(raw, dict):
        raise ProfileError(f"{where} must be a table with max, per and when")
    limit, per, when = raw.get("max"), raw.get("per"), raw.get("when", "always")
    if not isinstance(limit, int) or isinstance(limit, bool) or limit < 0:
        raise ProfileError(f"{where}.max must be a whole number >= 0")
    if per not in ("day", "24h", "7d"):
        raise ProfileError(f"{where}.per must be 'day', '24h' or '7d'")
    if when not in ("always", "unanswered"):
        raise ProfileError(f"{where}.when must be 'always' or 'unanswered'")
    return Cap(limit, per, when)


def _profile(key: str, raw: Any) -> Profile:
    if not isinstance(raw, dict):
        raise ProfileError(f"profile {key!r} must be a table")
    windows = raw.get("windows")
    if not isinstance(windows, list) or not windows:
        raise ProfileError(f"profile {key!r} needs at least one window")
    regions = raw.get("regions", [])
    if not isinstance(regions, list) or not all(isinstance(r, str) for r in regions):
        raise ProfileError(f"profile {key!r}: regions must be a list of region codes")
    if key != DEFAULT_KEY and not regions:
        raise ProfileError(f"profile {key!r} covers no region")
    area_codes = raw.get("area_codes", [])
    if not isinstance(area_codes, list) or not all(
        isinstance(a, str) and a.isdigit() for a in area_codes
    ):
        raise ProfileError(f"profile {key!r}: area_codes must be a list of digit strings")
    consent = raw.get("consent_required", True)
    if not isinstance(consent, bool):
        raise ProfileError(f"profile {key!r}: consent_required must be true or false")
    return Profile(
        key=key,
        name=str(raw.get("name") or key),
        regions=frozenset(r.upper() for r in regions),
        area_codes=tuple(area_codes),
        consent_required=consent,
        windows=tuple(_window(w, f"{key}.windows[{i}]") for i, w in enumerate(windows)),
        caps=tuple(_cap(c, f"{key}.caps[{i}]") for i, c in enumerate(raw.get("caps", []))),
        note=str(raw.get("note") or ""),
    )


def _read(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as f:
            return tomllib.load(f)
    except OSError as exc:
        raise ProfileError(f"cannot read compliance profiles {path}: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ProfileError(f"compliance profiles {path} is not valid TOML: {exc}") from None


@dataclass(frozen=True)
class ProfileSet:
    by_key: dict[str, Profile]

    @property
    def default(self) -> Profile:
        return self.by_key[DEFAULT_KEY]

    def for_number(self, region: str | None, national_number: str) -> Profile:
        """The most specific profile for a number: one whose area codes match, then one for
        its region, then the default."""
        best: Profile | None = None
        for profile in self.by_key.values():
            if region is None or region not in profile.regions:
                continue
            if profile.area_codes:
                if national_number.startswith(profile.area_codes):
                    return profile
            elif best is None:
                best = profile
        return best or self.default


@functools.lru_cache(maxsize=4)
def load(extra_file: str | None = None) -> ProfileSet:
    """The built-in profiles, with the operator's file (if any) replacing or adding
    profiles key by key. Raises ProfileError on anything unusable."""
    raw = _read(BUILTIN_FILE)
    if extra_file:
        raw.update(_read(Path(extra_file)))
    profiles = {key: _profile(key, value) for key, value in raw.items()}
    if DEFAULT_KEY not in profiles:
        raise ProfileError("compliance profiles need a 'default' profile")
    return ProfileSet(profiles)
