"""Entry point for the Huey consumer: `huey_consumer worker.huey`."""

from app import create_app
from core.tasks import huey  # noqa: F401  (the consumer imports it from here)

app = create_app()
