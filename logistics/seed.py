"""Demo data of the logistics area (none yet)."""


def run(echo=print) -> None:
    return None
