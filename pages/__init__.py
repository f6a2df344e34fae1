"""Helpers shared by the page scripts. Streamlit's legacy page discovery skips __init__.py."""

import re
import unicodedata

import streamlit as st

from explorer import precompute


def use_app_navigation() -> None:
    """Make a cold deep link (/build?..., /lessons?... on a fresh server) go through app.py's st.navigation.

    While a pages/ folder exists, a fresh server runs the first requested page alone in Streamlit's legacy
    pages/ mode (file-name sidebar, no wide layout) until app.py has called st.navigation once. Switch that mode
    off and rerun, so the page runs inside app.py; the query parameters are kept.
    """
    try:  # Streamlit internals: if they move, the page still works, only a cold deep link shows the old sidebar
        from streamlit.runtime.pages_manager import PagesManager
    except ImportError:
        return
    if getattr(PagesManager, "uses_pages_directory", False):
        PagesManager.uses_pages_directory = False
        st.rerun()


SHOWN_CHARS = 300  # untrusted text is cut to this many characters: a 100 kB link is not echoed in full
_MARKUP = re.compile(r"([!-/:-@\[-`{-~])")  # every ASCII punctuation character: CommonMark lets each be escaped
_AUTOLINK_PARTS = re.compile(r"\\([.:@])")  # the escaped characters an autolink literal needs


def plain(value: object, limit: int = SHOWN_CHARS) -> str:
    """Untrusted text (a URL value, a file, a run's message, an exception) as Markdown that shows it literally.

    Streamlit's alerts and captions render Markdown: a link's `[x](http://evil)` would be a live link and
    `![x](http://evil/p.png)` an image every visitor's browser fetches. Every ASCII punctuation character is
    backslash-escaped (links, images, HTML, entities, emphasis, LaTeX `$`, Streamlit's `:color[...]`), line breaks
    become spaces (no headings, lists or code blocks), control and format characters are dropped (a right-to-left
    override would reorder the message), a word joiner goes before every '.', ':' and '@' (autolinks), and the
    text is cut to `limit` characters with "…".
    """
    text = " ".join(str(value).split())
    text = "".join(ch for ch in text if unicodedata.category(ch)[0] != "C")  # no NUL, RTL override, zero-width
    if len(text) > limit:
        text = text[:limit] + "…"
    # Escapes do not stop GFM's autolinks (seen in Chromium: an escaped http\://evil\.example was still a live
    # link, and so were www. and a@b.c): a word joiner (U+2060, invisible) before every '.', ':' and '@' does.
    return _AUTOLINK_PARTS.sub("\u2060\\\\\\1", _MARKUP.sub(r"\\\1", text))


def say(kind: str, fixed: str, *untrusted: object) -> None:
    """An alert (`kind`: "error", "warning", "info", "success", "caption") with fixed Markdown `fixed`, whose `{}`
    placeholders are filled with the untrusted values shown as plain text (`plain`)."""
    getattr(st, kind)(fixed.format(*(plain(v) for v in untrusted)))


@st.cache_data(max_entries=256, show_spinner=False)
def cached_cost(spec_json: str) -> dict:
    """The design's Cost as a dict, refused over the budget (SpecError); a preset's from the shipped table
    (explorer.precompute), cached by the spec's JSON."""
    return precompute.cost_of(spec_json)


@st.cache_data(max_entries=256, show_spinner=False)
def cached_overview(spec_json: str) -> str:
    """The overview graph's DOT; a preset's from the shipped table, cached by the spec's JSON."""
    return precompute.overview_of(spec_json)
