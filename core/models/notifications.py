"""In-app notifications and preferences (core.notifications)."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from core import clock
from core.db import Base, IdMixin

__all__ = ["Notification", "NotificationPreference"]


class Notification(IdMixin, Base):
    """One message in a user's inbox, already rendered in the user's language."""

    __tablename__ = "notifications"
    __table_args__ = (sa.Index("ix_notifications_user_unread", "user_id", "read_at"),)

    # A foreign key by table name: core imports no area, the database keeps integrity.
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(sa.String(60))
    title: Mapped[str] = mapped_column(sa.String(300))
    body: Mapped[str] = mapped_column(sa.Text, default="")
    link: Mapped[str] = mapped_column(sa.String(500), default="")
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
    read_at: Mapped[datetime | None] = mapped_column(nullable=True)

    @property
    def is_read(self) -> bool:
        return self.read_at is not None


class NotificationPreference(IdMixin, Base):
    """A user's choice for one kind of notification (absent row: both channels on)."""

    __tablename__ = "notification_preferences"
    __table_args__ = (sa.UniqueConstraint("user_id", "kind"),)

    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(sa.String(60))
    email: Mapped[bool] = mapped_column(sa.Boolean, default=True)
    in_app: Mapped[bool] = mapped_column(sa.Boolean, default=True)
