"""Who may stop which run: this browser session's owner token, and the teacher's token.

The owner token lives in the URL (`?owner=`), not in a cookie: Streamlit can read cookies (st.context.cookies) but
not set them without a JavaScript component, and the URL survives a reload, a restart of the app and a bookmark.
The store keeps only the token's hash (explorer.training.limits.owner_id). A link shared with `?owner=` shares the
right to stop, so the page offers a share link without it.
"""

from __future__ import annotations

import streamlit as st

from explorer.i18n import _
from explorer.training.limits import is_teacher, new_token, owner_id, teacher_enabled, valid_token
from pages import say


def session_owner() -> str:
    """This session's owner id (the hash of its token), keeping the token in the session and the URL."""
    token = st.session_state.get("owner_token")
    given = st.query_params.get("owner")
    if token is None:
        if given is not None and not valid_token(given):
            say("warning", _("The owner token in this link is not one this app made, so this session has a new "
                             "one: runs started with the old link can be stopped only by the teacher."))
        token = given if valid_token(given) else new_token()
        st.session_state["owner_token"] = token
    if given != token:
        st.query_params["owner"] = token
    return owner_id(token)


def teacher_panel() -> bool:
    """The teacher's token box; True while this session holds the right token (EXPLORER_TEACHER_TOKEN)."""
    with st.expander(_("Teacher")):
        if not teacher_enabled():
            st.caption(_("No teacher token is set on this server: set EXPLORER_TEACHER_TOKEN before starting the "
                         "app to let the teacher stop any run."))
            return False
        token = st.text_input(_("Teacher token"), type="password", key="teacher_token",
                              help=_("The value of EXPLORER_TEACHER_TOKEN on the server. It lets you stop any run."))
        if not token:
            return False
        if is_teacher(token):
            st.caption(_("Teacher: you can stop any run."))
            return True
        say("error", _("That is not the teacher token."))
        return False
