"""Tables owned by core. Each core module documents its own table here so the schema of
core is read in one place. Columns referring to users hold plain ids: core knows no area."""

from __future__ import annotations

from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from core import clock
from core.db import Base, IdMixin


class StoredFile(IdMixin, Base):
    """A file kept by core.files outside static/, under a generated name."""

    __tablename__ = "stored_files"

    storage_key: Mapped[str] = mapped_column(sa.String(80), unique=True)
    original_name: Mapped[str] = mapped_column(sa.String(255))
    content_type: Mapped[str] = mapped_column(sa.String(100))
    size: Mapped[int] = mapped_column(sa.BigInteger)
    sha256: Mapped[str] = mapped_column(sa.String(64), index=True)
    purpose: Mapped[str] = mapped_column(sa.String(40), default="general")
    uploaded_by_id: Mapped[int | None] = mapped_column(sa.Integer, nullable=True)
    created_at: Mapped[datetime] = mapped_column(default=clock.now)


class CalendarDay(Base):
    """An exception to the Monday-Friday week: a public holiday, or a make-up working day (调休)."""

    __tablename__ = "calendar_days"

    day: Mapped[date] = mapped_column(sa.Date, primary_key=True)
    is_working_day: Mapped[bool] = mapped_column(sa.Boolean)
    name_zh: Mapped[str] = mapped_column(sa.String(100), default="")
    name_en: Mapped[str] = mapped_column(sa.String(100), default="")
    updated_at: Mapped[datetime] = mapped_column(default=clock.now, onupdate=clock.now)
