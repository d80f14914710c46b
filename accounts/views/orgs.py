"""accounts views: orgs."""

from accounts import bp  # noqa: F401
