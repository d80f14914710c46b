"""Outbox messages (core.outbox)."""

from __future__ import annotations
