"""Shared by every test module: each test starts in no language of its own (English unless it sets one)."""

import pytest

from explorer import i18n


@pytest.fixture(autouse=True)
def no_language_left_over():
    """A test that runs a command line's main() in this thread sets the language (i18n.set_language, as the CLI
    does) and never resets it; a later test's AppTest, which formats a Korean page's widgets in this thread, then
    formats them in English. Each test starts and ends with the language unset and no session reader."""
    token = i18n._language.set(None)
    yield
    i18n._language.reset(token)
    i18n.set_session_language(None)
