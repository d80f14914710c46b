"""Demo data of the procurement area (none yet)."""


def run(echo=print) -> None:
    return None
