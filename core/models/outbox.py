"""Outbox messages (core.outbox)."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from core import clock
from core.db import Base, IdMixin

__all__ = ["OutboxMessage", "OutboxStatus"]


class OutboxStatus:
    PENDING = "pending"
    SENT = "sent"
    DEAD = "dead"


class OutboxMessage(IdMixin, Base):
    """Something to do outside the process (an email, a webhook call), written in the
    transaction that decided it and performed by a task after commit, with retries."""

    __tablename__ = "outbox_messages"
    __table_args__ = (
        sa.Index("ix_outbox_messages_due", "status", "next_attempt_at"),
        sa.CheckConstraint("status IN ('pending', 'sent', 'dead')", name="status"),
    )

    kind: Mapped[str] = mapped_column(sa.String(60))
    payload: Mapped[dict] = mapped_column(sa.JSON, default=dict)
    dedup_key: Mapped[str | None] = mapped_column(sa.String(200), unique=True, nullable=True)
    status: Mapped[str] = mapped_column(sa.String(10), default=OutboxStatus.PENDING)
    attempts: Mapped[int] = mapped_column(sa.Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=clock.now)
    last_error: Mapped[str | None] = mapped_column(sa.Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
    sent_at: Mapped[datetime | None] = mapped_column(nullable=True)

    def __repr__(self) -> str:
        return f"<OutboxMessage {self.id} {self.kind} {self.status} attempts={self.attempts}>"
