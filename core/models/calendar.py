"""Working-day calendar exceptions (core.calendar)."""

from __future__ import annotations

from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from core import clock
from core.db import Base


class CalendarDay(Base):
    """An exception to the Monday-Friday week: a public holiday, or a make-up working day (调休)."""

    __tablename__ = "calendar_days"

    day: Mapped[date] = mapped_column(sa.Date, primary_key=True)
    is_working_day: Mapped[bool] = mapped_column(sa.Boolean)
    name_zh: Mapped[str] = mapped_column(sa.String(100), default="")
    name_en: Mapped[str] = mapped_column(sa.String(100), default="")
    updated_at: Mapped[datetime] = mapped_column(default=clock.now, onupdate=clock.now)
