"""Translation catalogs: extract the strings, update the catalogs, fill Chinese from a JSON file.

    python scripts/i18n.py update            # extract messages.pot, update zh_Hans_CN and en
    python scripts/i18n.py missing           # list msgids without a zh_Hans_CN translation (JSON)
    python scripts/i18n.py fill FILE.json    # {"msgid": "译文", ...} into zh_Hans_CN (fuzzy cleared)

`make translations` compiles the catalogs; tests/core/test_i18n_catalog.py fails when a
string in the code has no Chinese translation.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from babel.messages.pofile import read_po, write_po

ROOT = Path(__file__).resolve().parents[1]
TRANSLATIONS = ROOT / "translations"
POT = TRANSLATIONS / "messages.pot"
PYBABEL = str(Path(sys.executable).with_name("pybabel"))
IGNORE = ".venv tests bench migrations instance scripts node_modules"


def _po(locale: str) -> Path:
    return TRANSLATIONS / locale / "LC_MESSAGES" / "messages.po"


def update() -> None:
    subprocess.run(
        [PYBABEL, "extract", "-F", "babel.cfg", "-k", "_l", "-k", "lazy_gettext", "--no-location",
         "--sort-output", f"--ignore-dirs={IGNORE}", "-o", str(POT), "."],
        cwd=ROOT, check=True,
    )
    for locale in ("zh_Hans_CN", "en"):
        command = "update" if _po(locale).exists() else "init"
        args = [PYBABEL, command, "-i", str(POT), "-d", str(TRANSLATIONS), "-l", locale]
        if command == "update":
            args += ["--no-fuzzy-matching", "--ignore-obsolete"]
        subprocess.run(args, cwd=ROOT, check=True)


def missing() -> list[str]:
    with _po("zh_Hans_CN").open("rb") as fh:
        catalog = read_po(fh, locale="zh_Hans_CN")
    out = []
    for message in catalog:
        if not message.id:
            continue
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        if message.fuzzy or not all(strings):
            out.append(message.id if isinstance(message.id, str) else message.id[0])
    return out


def fill(path: Path) -> int:
    table = json.loads(path.read_text(encoding="utf-8"))
    po_path = _po("zh_Hans_CN")
    with po_path.open("rb") as fh:
        catalog = read_po(fh, locale="zh_Hans_CN")
    count = 0
    for message in catalog:
        if not message.id:
            continue
        key = message.id if isinstance(message.id, str) else message.id[0]
        if key in table and table[key]:
            message.string = (table[key],) * 2 if isinstance(message.id, tuple) else table[key]
            message.flags.discard("fuzzy")
            count += 1
    with po_path.open("wb") as fh:
        write_po(fh, catalog, width=0, omit_header=False)
    return count


def main(argv: list[str]) -> int:
    if not argv:
        print(__doc__)
        return 2
    if argv[0] == "update":
        update()
    elif argv[0] == "missing":
        print(json.dumps(missing(), ensure_ascii=False, indent=1))
    elif argv[0] == "fill" and len(argv) == 2:
        print(f"filled {fill(Path(argv[1]))} messages")
    else:
        print(__doc__)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
