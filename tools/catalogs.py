"""The translation catalogs: extract the marked text, update every language's .po, compile the .mo, check them.

    python tools/catalogs.py update      extract from app.py, pages/ and explorer/ (babel.cfg) and merge into
                                         every explorer/locale/<lang>/LC_MESSAGES/explorer.po (new text comes
                                         in empty, changed text fuzzy: both need a translator)
    python tools/catalogs.py compile     write the .mo files the app reads (commit them with the .po)
    python tools/catalogs.py check       what tests/test_i18n.py checks: every marked string translated, none
                                         fuzzy, the placeholders kept, every .mo up to date; exit 1 otherwise
    python tools/catalogs.py init LANG   start a catalog for a new language (then add it to i18n.LANGUAGES)
    python tools/catalogs.py merge LANG FILE.json
                                         put a translator's work into LANG's .po (after `update`): a JSON
                                         object {"English": "번역", "context\u0004English": "...", "one": ["..."]}
                                         (a list for a plural entry); each entry stops being fuzzy
Commands that write the catalogs hold a lock, so several people updating and merging at once take turns.

Babel's `pybabel` does the work (these are its commands with this project's options, docs/i18n.md); it is a
dev dependency only: the app reads the compiled .mo with the standard library.
"""

from __future__ import annotations

import contextlib
import fcntl
import fnmatch
import io
import json
import os
import string
import sys
import tempfile
from pathlib import Path

from babel.messages import Catalog
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import CommandLineInterface, parse_mapping_cfg
from babel.messages.mofile import read_mo, write_mo
from babel.messages.pofile import read_po, write_po

ROOT = Path(__file__).resolve().parents[1]
LOCALE = ROOT / "explorer" / "locale"
DOMAIN = "explorer"
# explorer.i18n's markers beside Babel's defaults (_, gettext, ngettext, pgettext, N_, ...).
KEYWORDS = {"lazy_gettext": None, "L_": None}
IGNORED_DIRS = (".*", "_*", "data", "runs", "artifacts", "out")  # never scanned: not code, and can be large
WIDTH = "--width=118"


def pybabel(*args: str) -> None:
    with contextlib.chdir(ROOT):  # the .po names files relative to the checkout
        CommandLineInterface().run(["pybabel", *args])


def languages() -> list[str]:
    return sorted(p.parent.parent.name for p in LOCALE.glob(f"*/LC_MESSAGES/{DOMAIN}.po"))


def po_path(lang: str) -> Path:
    return LOCALE / lang / "LC_MESSAGES" / f"{DOMAIN}.po"


def extract(pot: Path) -> None:
    pybabel("extract", "-F", str(ROOT / "babel.cfg"), "-o", str(pot), "-c", "TRANSLATORS:",
            "--project=ResNet Explorer", "--version=0.1", f"--ignore-dirs={' '.join(IGNORED_DIRS)}",
            *[f"-k{k}" for k in KEYWORDS], WIDTH,
            "--add-location=file", ".")  # file names without line numbers: fewer diffs in the .po


def update() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        pot = Path(tmp) / f"{DOMAIN}.pot"
        extract(pot)
        pybabel("update", "-i", str(pot), "-d", str(LOCALE), "-D", DOMAIN, "--ignore-obsolete",
                "--ignore-pot-creation-date", WIDTH)


def init(lang: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        pot = Path(tmp) / f"{DOMAIN}.pot"
        extract(pot)
        pybabel("init", "-i", str(pot), "-d", str(LOCALE), "-D", DOMAIN, "-l", lang, WIDTH)


def merge(lang: str, translations: dict[str, str | list[str]]) -> list[str]:
    """Set the translations of the .po's entries (see the module docstring); returns the keys it has no entry
    for (run `update` first, or the text is not marked)."""
    catalog = read_catalog(lang)
    missing = []
    for key, text in translations.items():
        context, _, msgid = key.rpartition("\u0004")
        message = next((m for m in catalog if (m.id[0] if isinstance(m.id, tuple) else m.id) == msgid
                        and (m.context or "") == context), None)
        if message is None:
            missing.append(key)
            continue
        message.string = tuple(text) if isinstance(message.id, tuple) else str(text)
        message.flags.discard("fuzzy")
    with open(po_path(lang), "wb") as out:
        write_po(out, catalog, width=118, ignore_obsolete=True)
    return missing


@contextlib.contextmanager
def locked():
    with open(Path(tempfile.gettempdir()) / "explorer-catalogs.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def compile_all() -> None:
    pybabel("compile", "-d", str(LOCALE), "-D", DOMAIN, "--statistics")


# ---------------------------------------------------------------- checks (tests/test_i18n.py reads these)

def scanned(directory: str) -> bool:
    """Whether extraction walks into `directory`: as `pybabel extract --ignore-dirs` matches, by its name."""
    return not any(fnmatch.fnmatch(os.path.basename(directory), p) for p in IGNORED_DIRS)


CONTEXT_SEPARATOR = "\x04"  # gettext's own: "context\x04msgid" names a pgettext message


def marked() -> dict[str, list[str]]:
    """Every string the code marks for translation (the msgid, the singular of a plural, or for pgettext
    "context\x04msgid"), with the files that mark it."""
    method_map, options_map = parse_mapping_cfg(io.StringIO((ROOT / "babel.cfg").read_text()))
    keywords = {**DEFAULT_KEYWORDS, **KEYWORDS}
    found: dict[str, list[str]] = {}
    for filename, _lineno, message, _comments, context in extract_from_dir(
            str(ROOT), method_map, options_map, keywords=keywords,
            directory_filter=scanned):
        key = message if isinstance(message, str) else message[0]
        found.setdefault(f"{context}{CONTEXT_SEPARATOR}{key}" if context else key, []).append(filename)
    return found


def read_catalog(lang: str) -> Catalog:
    with open(po_path(lang), "rb") as f:
        return read_po(f, locale=lang)


def fields(text: str) -> set[str]:
    """The str.format placeholders of a message ("{n} layers" -> {"n"})."""
    try:
        return {name for _lit, name, _spec, _conv in string.Formatter().parse(text) if name is not None}
    except ValueError:  # a lone "{" or "}": not a format string
        return set()


def problems(lang: str, wanted: dict[str, list[str]] | None = None) -> list[str]:
    """What is wrong with `lang`'s catalog, one line each; empty when it is complete and compiled."""
    catalog = read_catalog(lang)
    wanted = marked() if wanted is None else wanted
    found = []
    for key, files in wanted.items():
        context, _sep, msgid = key.rpartition(CONTEXT_SEPARATOR)
        message = catalog.get(msgid, context or None)
        strings = () if message is None else message.string if isinstance(message.string, tuple) else (
            message.string,)
        where = ", ".join(sorted(set(files)))
        if message is None:
            found.append(f"missing ({where}): {msgid!r}; run `python tools/catalogs.py update`")
        elif message.fuzzy:
            found.append(f"fuzzy, the English changed ({where}): {msgid!r}; review it and drop '#, fuzzy'")
        elif not all(strings):
            found.append(f"untranslated ({where}): {msgid!r}")
        elif any(fields(s) != fields(msgid) for s in strings):
            found.append(f"placeholders differ ({where}): {msgid!r} has {sorted(fields(msgid))}")
    for message, errors in catalog.check():
        found += [f"{message.id!r}: {e}" for e in errors]
    mo = po_path(lang).with_suffix(".mo")
    if not mo.exists():
        found.append(f"{mo.relative_to(ROOT)} is missing; run `python tools/catalogs.py compile`")
    else:
        with open(mo, "rb") as f:
            compiled = dict(_entry(m) for m in read_mo(f) if m.id)
        expected = dict(_entry(m) for m in catalog if m.id and m.string and not m.fuzzy)
        if compiled != expected:
            found.append(f"{mo.relative_to(ROOT)} is out of date; run `python tools/catalogs.py compile`")
    return found


def _entry(message) -> tuple[tuple, object]:
    """A message as comparable data: ((msgid, context), translation); a plural's ids and forms as tuples (the
    .mo reader gives lists, the .po reader tuples)."""
    def plain(value: object) -> object:
        return tuple(value) if isinstance(value, (list, tuple)) else value
    return (plain(message.id), message.context), plain(message.string)


def compiles(lang: str) -> bytes:
    """The .mo that `lang`'s catalog compiles to, in memory (raises when the catalog cannot be read)."""
    out = io.BytesIO()
    write_mo(out, read_catalog(lang))
    return out.getvalue()


def main(argv: list[str]) -> int:
    command, *rest = argv or ["check"]
    if command == "update":
        with locked():
            update()
    elif command == "compile":
        with locked():
            compile_all()
    elif command == "init" and len(rest) == 1:
        init(rest[0])
    elif command == "merge" and len(rest) == 2:
        with locked():
            missing = merge(rest[0], json.loads(Path(rest[1]).read_text(encoding="utf-8")))
        if missing:
            print(f"no entry for {len(missing)} text(s) (run update first?): " + "; ".join(missing[:10]))
            return 1
    elif command == "check":
        wanted = marked()
        lines = [f"{lang}: {p}" for lang in languages() for p in problems(lang, wanted)]
        print("\n".join(lines) or f"catalogs complete: {', '.join(languages())}; {len(wanted)} messages")
        return 1 if lines else 0
    else:
        print(__doc__, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
