"""accounts views: calendar."""

from accounts import bp  # noqa: F401
