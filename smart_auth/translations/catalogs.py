"""Brings the gateway's catalogs up to date: ``python -m smart_auth.translations.catalogs``
extracts the marked words (``N_``, ``P_``, ``NP_``) of ``smart_auth`` and ``notifications``
afresh into ``gateway.pot``, merges them into ``ro`` and ``pl`` ``gateway.po`` (a word that is
new stays untranslated; a changed one keeps its old translation marked fuzzy, to be checked)
and compiles the ``.mo`` files the gateway reads. It lists what is left to translate and ends
with status 1 while anything is, so a word never ships in English by mistake.

To change a word: change the English in the code, run this, translate the entries it lists in
both ``.po`` files (removing the ``fuzzy`` mark), run it again, commit the ``.po`` and ``.mo``."""

from __future__ import annotations

import io
import subprocess
import sys
import tempfile
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po, write_po

from smart_auth.translations import DOMAIN, HERE, TRANSLATED

REPO = HERE.parent.parent
#: where the gateway's words are written (notifications sits above smart_auth and uses these)
SOURCES = ("smart_auth", "notifications")
KEYWORDS = ("N_", "P_:1c,2", "NP_:1,2")


def extract(pot: Path) -> Catalog:
    """The marked words of the sources, into ``pot`` (no file locations: a line moved in the
    code leaves the catalogs alone)."""
    pybabel = Path(sys.executable).parent / "pybabel"
    keywords = [arg for keyword in KEYWORDS for arg in ("-k", keyword)]
    subprocess.run(  # noqa: S603 (our own pybabel, fixed arguments)
        [
            str(pybabel),
            "-q",
            "extract",
            "--no-default-keywords",
            *keywords,
            "--no-location",
            "--sort-output",
            "--project",
            "fhir-gateway",
            "-o",
            str(pot),
            *SOURCES,
        ],
        cwd=REPO,
        check=True,
    )
    with open(pot, "rb") as f:
        return read_po(f)


def po_path(language: str) -> Path:
    return HERE / language / "LC_MESSAGES" / f"{DOMAIN}.po"


def load(language: str) -> Catalog:
    """The ``.po`` catalog of ``language`` (a new, empty one the first time)."""
    path = po_path(language)
    if not path.exists():
        return Catalog(locale=language, domain=DOMAIN, project="fhir-gateway")
    with open(path, "rb") as f:
        return read_po(f, locale=language, domain=DOMAIN)


def untranslated(catalog: Catalog) -> list[str]:
    """The words of ``catalog`` without a translation in every plural form, or marked fuzzy."""
    left = []
    for message in catalog:
        if not message.id:
            continue
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        if (
            message.fuzzy
            or not all(strings)
            or len(strings) != (catalog.num_plurals if message.pluralizable else 1)
        ):
            left.append(str(message.id[0] if message.pluralizable else message.id))
    return left


def _undated(data: bytes) -> bytes:
    return b"\n".join(line for line in data.split(b"\n") if b"POT-Creation-Date" not in line)


def _po(catalog: Catalog) -> bytes:
    out = io.BytesIO()
    write_po(out, catalog, width=100, sort_output=True)
    return out.getvalue()


def _revive(catalog: Catalog, template: Catalog) -> None:
    """A word the code uses again gets back the translation it had: words the code no longer
    uses stay in the ``.po`` as obsolete entries (``#~``), for a translator to reuse."""
    wanted = {(m.id if isinstance(m.id, str) else m.id[0], m.context) for m in template if m.id}
    for key, old in list(catalog.obsolete.items()):
        if (old.id if isinstance(old.id, str) else old.id[0], old.context) in wanted:
            del catalog.obsolete[key]
            catalog[old.id] = old


def build() -> dict[str, list[str]]:
    """Extracts, merges, writes the ``.po`` and ``.mo`` files; what is left to translate. A
    file whose words did not change is left as it was (its date included)."""
    pot = HERE / f"{DOMAIN}.pot"
    with tempfile.TemporaryDirectory() as scratch:
        fresh = Path(scratch) / pot.name
        template = extract(fresh)
        if not pot.exists() or _undated(pot.read_bytes()) != _undated(fresh.read_bytes()):
            pot.write_bytes(fresh.read_bytes())
    left = {}
    for language in TRANSLATED:
        catalog = load(language)
        dated = catalog.creation_date
        before = _po(catalog)
        _revive(catalog, template)
        catalog.update(template)
        if _undated(_po(catalog)) == _undated(before):
            catalog.creation_date = dated
        path = po_path(language)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(_po(catalog))
        with open(path.with_suffix(".mo"), "wb") as f:
            write_mo(f, catalog)
        left[language] = untranslated(catalog)
    return left


def main() -> int:
    left = build()
    for language, words in left.items():
        for word in words:
            print(f"{language}: untranslated: {word}")
    return 1 if any(left.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
