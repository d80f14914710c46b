"""In-app notifications and preferences (core.notifications)."""

from __future__ import annotations
