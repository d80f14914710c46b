"""Working days: weekends, public holidays and make-up working days (调休)."""

from __future__ import annotations

from datetime import date

import pytest
import sqlalchemy as sa

from core import calendar
from core.db import db
from core.errors import NotFound
from core.models.audit import AuditEntry
from core.models.calendar import CalendarDay


@pytest.fixture
def seeded():
    calendar.seed_calendar()


def test_plain_weekdays_work_and_weekends_do_not():
    assert calendar.is_working_day(date(2026, 3, 13))  # Friday
    assert not calendar.is_working_day(date(2026, 3, 14))  # Saturday
    assert not calendar.is_working_day(date(2026, 3, 15))  # Sunday
    assert calendar.add_working_days(date(2026, 3, 13), 1) == date(2026, 3, 16)
    assert calendar.working_days_between(date(2026, 3, 13), date(2026, 3, 16)) == 1


def test_holiday_on_a_weekday_is_not_a_working_day(seeded):
    assert not calendar.is_working_day(date(2026, 10, 1))  # Thursday, National Day
    # Wednesday 30 Sep 2026 + 1 working day: 1-7 Oct are off; 8 Oct (Thursday) works.
    assert calendar.add_working_days(date(2026, 9, 30), 1) == date(2026, 10, 8)


def test_make_up_day_on_a_weekend_is_a_working_day(seeded):
    assert calendar.is_working_day(date(2026, 10, 10))  # Saturday make-up day
    assert calendar.is_working_day(date(2026, 1, 4))  # Sunday make-up day
    # Friday 9 Oct -> Saturday 10 Oct (make-up) is the next working day.
    assert calendar.next_working_day(date(2026, 10, 9)) == date(2026, 10, 10)


def test_add_working_days_across_the_spring_festival(seeded):
    # 2026: 14 Feb (Sat) works, 15-23 Feb are off, 28 Feb (Sat) works.
    assert calendar.add_working_days(date(2026, 2, 13), 1) == date(2026, 2, 14)
    assert calendar.add_working_days(date(2026, 2, 13), 2) == date(2026, 2, 24)
    assert calendar.add_working_days(date(2026, 2, 13), 5) == date(2026, 2, 27)
    assert calendar.add_working_days(date(2026, 2, 13), 6) == date(2026, 2, 28)
    assert calendar.add_working_days(date(2026, 2, 13), 7) == date(2026, 3, 2)
    assert calendar.working_days_between(date(2026, 2, 13), date(2026, 3, 2)) == 7
    assert calendar.working_days_between(date(2026, 3, 2), date(2026, 2, 13)) == -7
    assert calendar.add_working_days(date(2026, 2, 24), -2) == date(2026, 2, 13)


def test_add_zero_working_days_and_next_working_day_including_self(seeded):
    assert calendar.add_working_days(date(2026, 2, 16), 0) == date(2026, 2, 16)
    assert calendar.next_working_day(date(2026, 2, 16), include_self=True) == date(2026, 2, 24)
    assert calendar.next_working_day(date(2026, 2, 24), include_self=True) == date(2026, 2, 24)


def test_seed_is_idempotent_and_keeps_admin_edits():
    added = calendar.seed_calendar()
    assert added > 40
    calendar.set_day(date(2026, 10, 1), False, "国庆节（改）", "National Day (edited)")
    assert calendar.seed_calendar() == 0
    assert db.session.get(CalendarDay, date(2026, 10, 1)).name_en == "National Day (edited)"
    # 2027's statutory days are there (its State Council notice is not seeded).
    assert not calendar.is_working_day(date(2027, 2, 8))
    assert not calendar.is_working_day(date(2027, 10, 1))


def test_admin_edits_apply_at_once_and_are_audited(app):
    day = date(2026, 3, 16)  # a Monday
    assert calendar.is_working_day(day)
    calendar.set_day(day, False, "测试假日", "Test holiday")
    assert not calendar.is_working_day(day)
    calendar.remove_day(day)
    assert calendar.is_working_day(day)
    actions = list(db.session.scalars(sa.select(AuditEntry.action).order_by(AuditEntry.seq)))
    assert actions == ["calendar.day_set", "calendar.day_removed"]
    with app.test_request_context(), pytest.raises(NotFound):
        calendar.remove_day(day)


def test_days_of_year_lists_the_exceptions_in_order(seeded):
    days = calendar.days_of_year(2026)
    assert days[0].day == date(2026, 1, 1)
    assert [d.day for d in days] == sorted(d.day for d in days)
    assert all(d.day.year == 2026 for d in days)
