"""Demo data of the payments area (none yet)."""


def run(echo=print) -> None:
    return None
