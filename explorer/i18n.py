"""Languages: the current one, translated text, and where a language comes from (a URL, a browser, the shell).

**The tool.** GNU gettext catalogs, managed with Babel: `explorer/locale/<lang>/LC_MESSAGES/explorer.po` holds
the translations (English message -> Korean), `pybabel extract/update/compile` (wrapped by `tools/catalogs.py`)
keep them in step with the code, and the standard library's `gettext` reads the compiled `.mo` at run time.
Why gettext: it is the format every translation tool and platform reads (Poedit, Lokalize, Weblate, Transifex,
Crowdin), a `.po` file diffs and reviews line by line, it has plural forms and translator comments, and a
missing translation falls back to the English text instead of failing. Why Babel: it is the maintained Python
implementation (python-babel, used by Sphinx, Flask-Babel, Odoo), pure Python, extracts from Python source with
our keywords and checks the catalogs (`pybabel compile` refuses a broken one). Fluent (Mozilla's, better at
grammar) has a small Python runtime (fluent.runtime), nothing that extracts messages from Python source, and far
fewer tools; a dict of strings per language has no plurals, no extraction and no fallback. The `.mo` files are committed (as Django does), so the
app and the CLI need no Babel and no build step; `tests/test_i18n.py` fails when a `.mo` is stale.

**The current language** is a context variable, never a module global: Streamlit runs each session's script in
its own thread of one process, and a new thread starts with the variable unset, so one visitor's Korean cannot
leak into another's English page. app.py sets it at the top of every run (`set_language`); the CLI sets it from
`LANG` (`from_environ`); every function also takes an explicit `lang=` where a caller knows better. Where it is
unset, `language()` asks the host's `set_session_language` reader: a Streamlit fragment's rerun runs only the
fragment, in a fresh thread, without app.py, so app.py registers how to read the language of the session whose
script runs in the current thread (its session state). The reader holds no language itself, so nothing leaks.

**Marking text.** `_("...")` translates now (inside functions, at display time). Text defined at import time (the
field table's labels, a module's constant) must not be translated then, when no language is set: mark it with
`N_("...")` (returns the English text unchanged, only marks it for extraction) and translate where it is shown,
`_(setting.label)`; or make it a `lazy_gettext("...")` (`L_`), a value whose `str()` and f-string formatting
translate into the language current at that moment. Write placeholders as named `{fields}` filled with
`.format(...)` after translating, so a translation may reorder them: `_("{n} layers").format(n=depth)`.
"""

from __future__ import annotations

import contextlib
import functools
import gettext as _gettext
import os
import re
from collections.abc import Callable, Iterator, Mapping
from contextvars import ContextVar, Token
from pathlib import Path

DOMAIN = "explorer"  # the catalogs' file name: locale/<lang>/LC_MESSAGES/explorer.mo
LOCALE_DIR = Path(__file__).resolve().with_name("locale")
LANGUAGES: dict[str, str] = {"en": "English", "ko": "한국어"}  # code -> its own name, the switch's order
DEFAULT = "en"  # the messages in the code are English; a language without a catalog reads them
QUERY_KEY = "lang"  # the URL parameter: ?lang=ko
ENVIRON_KEYS = ("LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG")  # the order in which gettext reads them

_language: ContextVar[str | None] = ContextVar("explorer_language", default=None)
_session_reader: Callable[[], object] | None = None  # set by the host (app.py); reads, never holds, a language
_TAG = re.compile(r"[A-Za-z]{2,3}(?=$|[-_.@])")  # the language of "ko", "ko-KR", "ko_KR.UTF-8", "en@quot"


# ---------------------------------------------------------------- the current language

def language() -> str:
    """The language of this context (this Streamlit session's run, or the CLI process): the one set here, else
    the session's (`set_session_language`), else English."""
    lang = _language.get()
    if lang is None and _session_reader is not None:
        lang = normalize(_session_reader())
    return lang or DEFAULT


def set_session_language(reader: Callable[[], object] | None) -> None:
    """Register how to read the language of the session running in the current thread, for code that runs
    without the context variable set (a Streamlit fragment's rerun). `reader` returns a code or None; it must
    read per-session state (st.session_state), never hold a language itself. None unregisters it."""
    global _session_reader
    _session_reader = reader


def set_language(lang: str) -> Token[str | None]:
    """Make `lang` current for this context (a supported code; see `normalize`); returns the token to undo it."""
    if lang not in LANGUAGES:
        raise ValueError(f"lang: one of {', '.join(LANGUAGES)}; got {lang!r}")
    return _language.set(lang)


@contextlib.contextmanager
def using(lang: str) -> Iterator[None]:
    """`with using("ko"): ...` runs the block in `lang` and restores the previous language after it."""
    token = set_language(lang)
    try:
        yield
    finally:
        _language.reset(token)


# ---------------------------------------------------------------- translating

@functools.cache
def translations(lang: str) -> _gettext.NullTranslations:
    """The compiled catalog of `lang`, read once per process; English (the messages themselves) when it has none."""
    return _gettext.translation(DOMAIN, localedir=LOCALE_DIR, languages=[lang], fallback=True)


def gettext(message: str | LazyText, lang: str | None = None) -> str:
    """`message` in `lang` (default: the current language); the English message where no translation exists."""
    msgid = message.message if isinstance(message, LazyText) else message
    return translations(lang or language()).gettext(msgid)


_ = gettext


def ngettext(singular: str, plural: str, n: int, lang: str | None = None) -> str:
    """The form for `n` ("{n} block" / "{n} blocks"); Korean has one form for every n."""
    return translations(lang or language()).ngettext(singular, plural, n)


def pgettext(context: str, message: str, lang: str | None = None) -> str:
    """`message` in a context that tells two equal English words apart (pgettext("activation", "original"))."""
    return translations(lang or language()).pgettext(context, message)


def N_(message: str) -> str:  # noqa: N802 (gettext's own name for it)
    """Mark `message` for extraction and return it untranslated: translate it where it is shown, `_(value)`."""
    return message


class LazyText:
    """Text that translates when it is shown: `str(x)`, `f"{x}"` and `x + "..."` use the language current then.

    Equal and hashed by the English message, so a frozen dataclass holding one compares the same in every
    language. Streamlit's widgets want a real `str`: pass `str(x)` or `_(x)`.
    """

    __slots__ = ("message",)

    def __init__(self, message: str) -> None:
        self.message = message

    def __str__(self) -> str:
        return gettext(self.message)

    def __format__(self, spec: str) -> str:
        return format(str(self), spec)

    def __add__(self, other: object) -> str:
        return str(self) + str(other)

    def __radd__(self, other: object) -> str:
        return str(other) + str(self)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, LazyText) and other.message == self.message

    def __hash__(self) -> int:
        return hash(self.message)

    def __repr__(self) -> str:
        return f"lazy_gettext({self.message!r})"


def lazy_gettext(message: str) -> LazyText:
    """`message` translated each time it is shown (module-level constants); see `LazyText`."""
    return LazyText(message)


L_ = lazy_gettext


# ---------------------------------------------------------------- Korean particles after a filled-in value

# A Korean particle depends on how the word before it ends when read aloud: "20으로" (이십, ends in a consonant)
# but "26으로"/"25로", "'basic'으로" but "'cifar'로". A template cannot know the value it will hold, so it writes
# both forms, "{fix}(으)로", as Korean software does; `particles` picks the right one once the value is in, where
# the ending is certain (Hangul, digits, an acronym's letter names, an English word ending in l, m, n, ck, ic, a
# vowel letter or r), and leaves the marker where it is not ("full_preact", "none": read either way).
_PARTICLES = {"(으)로": ("으로", "로", "로"), "을(를)": ("을", "을", "를"), "이(가)": ("이", "이", "가"),
              "은(는)": ("은", "은", "는")}  # marker -> (after a consonant, after ㄹ, after a vowel)
_MARKER = re.compile("|".join(re.escape(m) for m in _PARTICLES))
_DIGIT_ENDING = {"0": 0, "1": 1, "2": 2, "3": 0, "4": 2, "5": 2, "6": 0, "7": 1, "8": 1, "9": 2}  # 영/십, 일, 이 ...
_LETTER_ENDING = {"L": 1, "R": 1, "M": 0, "N": 0}  # 엘, 알, 엠, 엔; every other letter's name ends in a vowel
_CLOSING = "'\"`’”)]"


def _ending(text: str) -> int | None:
    """How `text` ends when read aloud: 0 a consonant, 1 ㄹ, 2 a vowel; None when it is not certain."""
    text = text.rstrip(_CLOSING)
    if not text:
        return None
    last = text[-1]
    if "가" <= last <= "힣":
        final = (ord(last) - ord("가")) % 28
        return 2 if final == 0 else 1 if final == 8 else 0
    if last in _DIGIT_ENDING:
        return _DIGIT_ENDING[last]
    found = re.search(r"([A-Za-z0-9_.-]?)([A-Za-z]+)$", text)
    if found is None:
        return None
    before, word = found.groups()
    if len(word) == 1 and before:  # "sweep-a_b", "x.b": a letter in a code, read either way
        return None
    if len(word) == 1 or word.isupper():  # letters read by name: "B", "GPU", "JSON"
        return _LETTER_ENDING.get(word[-1].upper(), 2)
    if word.endswith("l"):
        return 1
    if word.endswith(("m", "n", "ck", "ic")):  # "bottleneck" 보틀넥, "basic" 베이식
        return 0
    if word.endswith(("a", "i", "o", "u", "y", "r")):
        return 2
    return None


def particles(text: str) -> str:
    """Korean text with each "(으)로", "을(를)", "이(가)", "은(는)" after a value resolved where its reading is certain
    ("26(으)로" -> "26으로", "'cifar'(으)로" -> "'cifar'로"); any other text is returned unchanged."""
    def pick(found: re.Match) -> str:
        ending = _ending(text[:found.start()])
        return found.group(0) if ending is None else _PARTICLES[found.group(0)][ending]
    return _MARKER.sub(pick, text) if "(" in text else text


# ---------------------------------------------------------------- where the language comes from

def normalize(tag: object) -> str | None:
    """The supported language a tag names ("ko", "ko-KR", "ko_KR.UTF-8", "KO") or None ("C", "fr", "", junk)."""
    if not isinstance(tag, str):
        return None
    found = _TAG.match(tag.strip())
    code = found.group(0).lower() if found else None
    return code if code in LANGUAGES else None


def from_query(value: object) -> str:
    """The language a `?lang=` value asks for; an unknown or malformed one is English (never an error)."""
    return normalize(value) or DEFAULT


def from_accept_language(header: str | None) -> str | None:
    """The supported language the browser prefers most, from an Accept-Language header (RFC 9110, sec. 12.5.4):
    "ko-KR,ko;q=0.9,en;q=0.8" -> "ko". None when it names none of ours."""
    ranked = []
    for position, item in enumerate((header or "").split(",")):
        tag, _sep, params = item.strip().partition(";")
        quality = 1.0
        for param in params.split(";"):
            key, _eq, value = param.strip().partition("=")
            if key.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        code = normalize(tag)
        if code and quality > 0:
            ranked.append((-quality, position, code))
    return min(ranked)[2] if ranked else None


def from_browser(locale: str | None = None, accept_language: str | None = None) -> str:
    """The browser's language: its `navigator.language` (Streamlit's st.context.locale), else its
    Accept-Language header, else English."""
    return normalize(locale) or from_accept_language(accept_language) or DEFAULT


def from_environ(environ: Mapping[str, str] | None = None) -> str:
    """The CLI's language, as gettext reads it: the first of LANGUAGE, LC_ALL, LC_MESSAGES, LANG that is set
    decides ("ko_KR.UTF-8" -> "ko"; LANGUAGE may list several, "ko:en"); English for "C", "POSIX" or unknown."""
    environ = os.environ if environ is None else environ
    for key in ENVIRON_KEYS:
        value = environ.get(key)
        if value:
            for part in value.split(":"):
                if code := normalize(part):
                    return code
            return DEFAULT
    return DEFAULT
