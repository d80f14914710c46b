"""Idempotency-Key records (core.idempotency)."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from core import clock
from core.db import Base

__all__ = ["IdempotencyRecord"]


class IdempotencyRecord(Base):
    """A request made with an `Idempotency-Key`, and the response it produced."""

    __tablename__ = "idempotency_records"

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True)
    key: Mapped[str] = mapped_column(sa.String(255))
    caller: Mapped[str] = mapped_column(sa.String(120))
    route: Mapped[str] = mapped_column(sa.String(200))
    request_hash: Mapped[str] = mapped_column(sa.String(64))
    status: Mapped[str] = mapped_column(sa.String(20), default="in_progress")  # in_progress | completed
    response_status: Mapped[int | None] = mapped_column(sa.Integer)
    response_body: Mapped[bytes | None] = mapped_column(sa.LargeBinary)
    response_content_type: Mapped[str | None] = mapped_column(sa.String(120))
    response_location: Mapped[str | None] = mapped_column(sa.String(500))
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
    expires_at: Mapped[datetime] = mapped_column(index=True)

    __table_args__ = (sa.UniqueConstraint("caller", "key"),)
