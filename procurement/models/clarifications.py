"""Clarification questions (the asker is visible only to the buyer's officers)."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from core import clock
from core.db import Base, IdMixin

__all__ = ["Question"]


class Question(IdMixin, Base):
    __tablename__ = "tender_questions"

    tender_id: Mapped[int] = mapped_column(sa.ForeignKey("tenders.id"), index=True)
    lot_id: Mapped[int | None] = mapped_column(sa.ForeignKey("tender_lots.id"))
    asker_org_id: Mapped[int] = mapped_column(sa.ForeignKey("organizations.id"), index=True)
    asker_user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    text: Mapped[str] = mapped_column(sa.Text)
    asked_at: Mapped[datetime] = mapped_column(default=clock.now)
    answer: Mapped[str] = mapped_column(sa.Text, default="")
    answered_at: Mapped[datetime | None]
    answered_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
