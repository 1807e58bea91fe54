"""The portal's RO and PL translations, written into the gettext catalogs (.po, then the
compiled .mo files, both committed): ``python -m portal.translations.catalogs`` extracts the
messages of the code and templates afresh into ``messages.pot`` and writes both catalogs.

The words live in ``portal/translations/words/``, one module per screen (``core`` for the
frame), each a ``WORDS`` table ``{"ro": {...}, "pl": {...}}``; a message with a context
(``pgettext("encounter", "Cancelled")``) is keyed ``"encounter::Cancelled"``, so one English
word can agree in gender with different nouns; a message given twice with two different
translations is an error, and a string missing everywhere fails the catalog test."""

from __future__ import annotations

import importlib
import pkgutil
import subprocess
import sys
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po, write_po

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent


def extract(pot: Path) -> None:
    """The messages of the portal's code (``_``, ``ngettext``, ``lazy_gettext``,
    ``lazy_pgettext``) and templates, into ``pot``."""
    pybabel = Path(sys.executable).parent / "pybabel"
    keywords = ["-k", "lazy_gettext", "-k", "lazy_pgettext:1c,2"]
    subprocess.run(  # noqa: S603 (our own pybabel, fixed arguments)
        [str(pybabel), "-q", "extract", "-F", "portal/babel.cfg", *keywords, "-o", str(pot), "."],
        cwd=REPO,
        check=True,
    )


Texts = dict[str, dict[str, str | tuple[str, ...]]]


def translations() -> Texts:
    """Every words module's table, merged."""
    from portal.translations import words

    merged: Texts = {"ro": {}, "pl": {}}
    for found in sorted(pkgutil.iter_modules(words.__path__), key=lambda m: m.name):
        table: Texts = importlib.import_module(f"{words.__name__}.{found.name}").WORDS
        for lang, texts in table.items():
            for key, text in texts.items():
                if merged[lang].get(key, text) != text:
                    raise ValueError(f"{found.name}: {lang} {key!r} translated twice, differently")
                merged[lang][key] = text
    return merged


def build() -> None:
    extract(HERE / "messages.pot")
    with open(HERE / "messages.pot", "rb") as f:
        template = read_po(f)
    for lang, texts in translations().items():
        catalog = Catalog(locale=lang, domain="messages", project="portal")
        catalog.update(template)
        for message in catalog:
            if not message.id:
                continue
            key = str(message.id[0] if isinstance(message.id, (tuple, list)) else message.id)
            if message.context:
                key = f"{message.context}::{key}"
            message.string = texts[key]
            message.flags.discard("fuzzy")
        out = HERE / lang / "LC_MESSAGES"
        out.mkdir(parents=True, exist_ok=True)
        with open(out / "messages.po", "wb") as f:
            write_po(f, catalog, width=100)
        with open(out / "messages.mo", "wb") as f:
            write_mo(f, catalog)


if __name__ == "__main__":
    build()
