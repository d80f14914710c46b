"""Demo data of core: the working-day calendar is seeded by core.calendar."""


def run(echo=print) -> None:
    from core.calendar import seed_calendar

    added = seed_calendar()
    echo(f"Calendar: {added} holiday and make-up days added." if added else "Calendar: up to date.")
