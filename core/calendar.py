"""Working days: Monday-Friday, except the public holidays and make-up working days (调休)
kept in the `calendar_days` table that platform admins maintain.

Nothing is cached across calls: each function reads the exceptions of the range it
needs, so an admin's edit applies at once.
"""

from __future__ import annotations

from datetime import date, timedelta

import sqlalchemy as sa
from flask_babel import gettext as _

from core import audit
from core.db import db, unit_of_work
from core.errors import NotFound, ValidationError
from core.models.calendar import CalendarDay

__all__ = [
    "is_working_day",
    "add_working_days",
    "working_days_between",
    "next_working_day",
    "exceptions_between",
    "days_of_year",
    "month_grid",
    "set_day",
    "remove_day",
    "seed_calendar",
]


def _default_working(d: date) -> bool:
    return d.weekday() < 5


def exceptions_between(first: date, last: date) -> dict[date, bool]:
    """{day: is_working_day} for the exceptions in [first, last]."""
    if last < first:
        first, last = last, first
    rows = db.session.execute(
        sa.select(CalendarDay.day, CalendarDay.is_working_day).where(CalendarDay.day.between(first, last))
    ).all()
    return {row.day: bool(row.is_working_day) for row in rows}


def is_working_day(d: date) -> bool:
    row = db.session.execute(sa.select(CalendarDay.is_working_day).where(CalendarDay.day == d)).first()
    return bool(row[0]) if row is not None else _default_working(d)


def _walk(start: date, n: int) -> date:
    """The n-th working day after start (n > 0) or before it (n < 0)."""
    step = 1 if n > 0 else -1
    remaining = abs(n)
    current = start
    window = max(remaining * 2 + 30, 60)
    while True:
        lo, hi = (current + timedelta(days=1), current + timedelta(days=window)) if step > 0 else (
            current - timedelta(days=window), current - timedelta(days=1))
        exceptions = exceptions_between(lo, hi)
        for _i in range(window):
            current += timedelta(days=step)
            working = exceptions.get(current, _default_working(current))
            if working:
                remaining -= 1
                if remaining == 0:
                    return current


def add_working_days(start: date, n: int) -> date:
    """The n-th working day after `start` (start itself is not counted); n=0 gives start.

    Negative n counts backwards (the n-th working day before start).
    """
    if n == 0:
        return start
    return _walk(start, n)


def next_working_day(d: date, include_self: bool = False) -> date:
    """The first working day after `d` (or `d` itself when include_self and it is one)."""
    if include_self and is_working_day(d):
        return d
    return _walk(d, 1)


def working_days_between(a: date, b: date) -> int:
    """Working days in (a, b]: add_working_days(a, n) == b implies the result is n.

    Negative when b is before a.
    """
    if a == b:
        return 0
    if b < a:
        return -working_days_between(b, a)
    exceptions = exceptions_between(a + timedelta(days=1), b)
    count = 0
    current = a + timedelta(days=1)
    while current <= b:
        if exceptions.get(current, _default_working(current)):
            count += 1
        current += timedelta(days=1)
    return count


def days_of_year(year: int) -> list[CalendarDay]:
    """The exceptions of `year`, in date order (admin page)."""
    return list(
        db.session.scalars(
            sa.select(CalendarDay)
            .where(CalendarDay.day.between(date(year, 1, 1), date(year, 12, 31)))
            .order_by(CalendarDay.day)
        )
    )


def month_grid(year: int, month: int) -> list[list[dict | None]]:
    """Weeks (Monday first) of a month for the admin preview: each cell is None (padding) or
    {"day", "working", "exception", "name_zh", "name_en"}."""
    import calendar as pycal

    first = date(year, month, 1)
    last = date(year, month, pycal.monthrange(year, month)[1])
    rows = {
        r.day: r for r in db.session.scalars(sa.select(CalendarDay).where(CalendarDay.day.between(first, last)))
    }
    weeks: list[list[dict | None]] = []
    week: list[dict | None] = [None] * first.weekday()
    d = first
    while d <= last:
        row = rows.get(d)
        week.append({
            "day": d,
            "working": row.is_working_day if row else _default_working(d),
            "exception": row is not None,
            "name_zh": row.name_zh if row else "",
            "name_en": row.name_en if row else "",
        })
        if len(week) == 7:
            weeks.append(week)
            week = []
        d += timedelta(days=1)
    if week:
        weeks.append(week + [None] * (7 - len(week)))
    return weeks


# --------------------------------------------------------------------------- admin edits


def set_day(day: date, is_working: bool, name_zh: str = "", name_en: str = "", actor=None) -> CalendarDay:
    """Create or change the exception for `day` (audited)."""
    name_zh, name_en = (name_zh or "").strip(), (name_en or "").strip()
    if len(name_zh) > 100 or len(name_en) > 100:
        raise ValidationError(fields={"name_zh": _("At most 100 characters.")})
    if not isinstance(day, date):
        raise ValidationError(fields={"day": _("Enter a valid date.")})
    with unit_of_work() as session:
        row = session.get(CalendarDay, day)
        before = None
        if row is None:
            row = CalendarDay(day=day)
            session.add(row)
        else:
            before = {"is_working_day": row.is_working_day, "name_zh": row.name_zh, "name_en": row.name_en}
        row.is_working_day = bool(is_working)
        row.name_zh = name_zh
        row.name_en = name_en
        audit.record(
            "calendar.day_set",
            "calendar_day",
            day.isoformat(),
            {"is_working_day": bool(is_working), "name_zh": name_zh, "name_en": name_en, "before": before},
            actor=actor,
        )
    return row


def remove_day(day: date, actor=None) -> None:
    """Delete the exception for `day`: it falls back to the Monday-Friday rule (audited)."""
    with unit_of_work() as session:
        row = session.get(CalendarDay, day)
        if row is None:
            raise NotFound(_("This day has no calendar entry."))
        before = {"is_working_day": row.is_working_day, "name_zh": row.name_zh, "name_en": row.name_en}
        session.delete(row)
        audit.record("calendar.day_removed", "calendar_day", day.isoformat(), {"before": before}, actor=actor)


# --------------------------------------------------------------------------- seed

# (first day, last day, name_zh, name_en) holidays and (day, name_zh, name_en) make-up days.
_HOLIDAY_NAMES = {
    "new_year": ("元旦", "New Year's Day"),
    "spring": ("春节", "Spring Festival"),
    "qingming": ("清明节", "Qingming Festival"),
    "labour": ("劳动节", "Labour Day"),
    "dragon": ("端午节", "Dragon Boat Festival"),
    "mid_autumn": ("中秋节", "Mid-Autumn Festival"),
    "national": ("国庆节", "National Day"),
}

#: 2026: 国务院办公厅关于2026年部分节假日安排的通知 (2025-11-04).
CALENDAR_2026 = {
    "holidays": [
        (date(2026, 1, 1), date(2026, 1, 3), "new_year"),
        (date(2026, 2, 15), date(2026, 2, 23), "spring"),
        (date(2026, 4, 4), date(2026, 4, 6), "qingming"),
        (date(2026, 5, 1), date(2026, 5, 5), "labour"),
        (date(2026, 6, 19), date(2026, 6, 21), "dragon"),
        (date(2026, 9, 25), date(2026, 9, 27), "mid_autumn"),
        (date(2026, 10, 1), date(2026, 10, 7), "national"),
    ],
    "makeup": [
        (date(2026, 1, 4), "new_year"),
        (date(2026, 2, 14), "spring"),
        (date(2026, 2, 28), "spring"),
        (date(2026, 5, 9), "labour"),
        (date(2026, 9, 20), "national"),
        (date(2026, 10, 10), "national"),
    ],
}

#: 2027: the State Council notice for 2027 was not known when this was written. Only the
#: statutory holidays of 《全国年节及纪念日放假办法》 (2024 revision) are seeded (New Year
#: 1 day; Spring Festival 4 days: eve + first three days, lunar new year 2027-02-06;
#: Qingming 1; Labour Day 2; Dragon Boat 1; Mid-Autumn 1; National Day 3). No make-up
#: working days and no bridging days: platform admins must enter them from the notice.
CALENDAR_2027 = {
    "holidays": [
        (date(2027, 1, 1), date(2027, 1, 1), "new_year"),
        (date(2027, 2, 5), date(2027, 2, 8), "spring"),
        (date(2027, 4, 5), date(2027, 4, 5), "qingming"),
        (date(2027, 5, 1), date(2027, 5, 2), "labour"),
        (date(2027, 6, 9), date(2027, 6, 9), "dragon"),
        (date(2027, 9, 15), date(2027, 9, 15), "mid_autumn"),
        (date(2027, 10, 1), date(2027, 10, 3), "national"),
    ],
    "makeup": [],
}

SEED_YEARS = {2026: CALENDAR_2026, 2027: CALENDAR_2027}


def _seed_rows() -> list[tuple[date, bool, str, str]]:
    rows = []
    for spec in SEED_YEARS.values():
        for first, last, key in spec["holidays"]:
            zh, en = _HOLIDAY_NAMES[key]
            d = first
            while d <= last:
                rows.append((d, False, zh, en))
                d += timedelta(days=1)
        for d, key in spec["makeup"]:
            zh, en = _HOLIDAY_NAMES[key]
            rows.append((d, True, f"{zh}调休上班", f"{en} make-up working day"))
    return rows


def seed_calendar() -> int:
    """Insert the seeded days that are missing (admin edits are kept); returns how many."""
    added = 0
    with unit_of_work() as session:
        wanted = _seed_rows()
        existing = set(
            session.scalars(sa.select(CalendarDay.day).where(CalendarDay.day.in_([r[0] for r in wanted])))
        )
        for day, working, zh, en in wanted:
            if day in existing:
                continue
            session.add(CalendarDay(day=day, is_working_day=working, name_zh=zh, name_en=en))
            added += 1
        if added:
            audit.record("calendar.seeded", "calendar", None, {"added": added, "years": sorted(SEED_YEARS)},
                         actor=audit.system("seed"))
    return added
