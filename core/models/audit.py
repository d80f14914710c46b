"""Audit log: entries, chain head, signed checkpoints (core.audit)."""

from __future__ import annotations
