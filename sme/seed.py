"""Demo data of the sme area (none yet)."""


def run(echo=print) -> None:
    return None
