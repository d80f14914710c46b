"""HTML views of accounts, one module per concern (imported to register their routes)."""

from accounts.views import admin, audit, auth, calendar, dashboard, orgs, security  # noqa: F401
