"""Every user-facing string in the code and templates has a Chinese translation.

The catalog is extracted afresh from the tree (pybabel's extractor, babel.cfg), so a new
string without a zh_Hans_CN translation fails here rather than showing English to a
Chinese reader. English is the source language, so it is complete by construction.
"""

from __future__ import annotations

from pathlib import Path

from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parents[2]
METHOD_MAP = [
    ("**/.venv/**", "ignore"),
    ("**/tests/**", "ignore"),
    ("**/bench/**", "ignore"),
    ("**/migrations/**", "ignore"),
    ("**.py", "python"),
    ("templates/**.html", "jinja2"),
]
KEYWORDS = {"_": None, "gettext": None, "ngettext": (1, 2), "lazy_gettext": None, "_l": None}


def _source_msgids() -> set[str]:
    ids: set[str] = set()
    dirs = ["core", "accounts", "payments", "logistics", "procurement", "sme", "templates"]
    for name in dirs:
        base = ROOT / name
        method_map = [("**.py", "python"), ("**.html", "jinja2")]
        for _file, _line, message, _comments, _ctx in extract_from_dir(
            base, method_map, keywords=KEYWORDS, options_map={"**.html": {"extensions": "jinja2.ext.i18n"}}
        ):
            ids.add(message[0] if isinstance(message, tuple) else message)
    for _file, _line, message, _c, _x in extract_from_dir(
        ROOT, [("app.py", "python"), ("config.py", "python")], keywords=KEYWORDS
    ):
        ids.add(message[0] if isinstance(message, tuple) else message)
    ids.discard("")
    return ids


def _catalog(locale: str):
    path = ROOT / "translations" / locale / "LC_MESSAGES" / "messages.po"
    with path.open("rb") as fh:
        return read_po(fh, locale=locale)


def test_every_string_has_a_chinese_translation():
    catalog = _catalog("zh_Hans_CN")
    missing = []
    for msgid in sorted(_source_msgids()):
        message = catalog.get(msgid)
        translated = message is not None and message.string and not message.fuzzy
        if isinstance(message.string if message else None, tuple):
            translated = all(message.string)
        if not translated:
            missing.append(msgid)
    assert not missing, f"{len(missing)} strings lack a zh_Hans_CN translation, e.g. {missing[:10]}"


def test_english_catalog_exists_for_the_language_switch():
    assert (ROOT / "translations" / "en" / "LC_MESSAGES" / "messages.po").exists()
