"""Idempotency-Key records (core.idempotency)."""

from __future__ import annotations
