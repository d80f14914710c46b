"""accounts views: audit."""

from accounts import bp  # noqa: F401
