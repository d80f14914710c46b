"""Payment providers behind one interface (payments.providers.base)."""

from payments.providers.base import get, names, register  # noqa: F401
