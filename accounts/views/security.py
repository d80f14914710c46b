"""accounts views: security."""

from accounts import bp  # noqa: F401
