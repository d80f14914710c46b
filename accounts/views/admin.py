"""accounts views: admin."""

from accounts import bp  # noqa: F401
