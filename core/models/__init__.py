"""Tables owned by core, one module per core service. Columns referring to users hold plain
ids (core knows no area)."""

from core.models.audit import *  # noqa: F401,F403
from core.models.calendar import CalendarDay  # noqa: F401
from core.models.files import StoredFile  # noqa: F401
from core.models.idempotency import *  # noqa: F401,F403
from core.models.notifications import *  # noqa: F401,F403
from core.models.outbox import *  # noqa: F401,F403
from core.models.settings import AppSetting  # noqa: F401
