"""Supplier alert subscriptions: new tenders and amendments by category and keyword."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from core import clock
from core.db import Base, IdMixin

__all__ = ["AlertSubscription"]


class AlertSubscription(IdMixin, Base):
    __tablename__ = "tender_alert_subscriptions"

    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"), index=True)
    org_id: Mapped[int | None] = mapped_column(sa.ForeignKey("organizations.id"))
    categories: Mapped[list] = mapped_column(sa.JSON, default=list)  # Category values; empty = any
    category_codes: Mapped[list] = mapped_column(sa.JSON, default=list)  # code prefixes; empty = any
    keywords: Mapped[list] = mapped_column(sa.JSON, default=list)  # any one matches; empty = any
    active: Mapped[bool] = mapped_column(sa.Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
