"""Helpers shared by the page scripts. Streamlit's legacy page discovery skips __init__.py."""

import dataclasses

import streamlit as st

from explorer import ArchSpec
from explorer.models.cost import check_budget
from explorer.draw.overview import overview_dot


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


@st.cache_data(max_entries=256, show_spinner=False)
def cached_cost(spec_json: str) -> dict:
    """The design's Cost as a dict, refused over the budget (SpecError); cached by the spec's JSON."""
    return dataclasses.asdict(check_budget(ArchSpec.from_json(spec_json)))


@st.cache_data(max_entries=256, show_spinner=False)
def cached_overview(spec_json: str) -> str:
    """The overview graph's DOT; cached by the spec's JSON."""
    return overview_dot(ArchSpec.from_json(spec_json))
