"""Lessons page: pick a lesson (kept in the URL as ?lesson=), read the idea, run the experiment, compare with
the paper. Every computation lives in explorer.lessons; the renderers in pages/lesson_views read widgets and draw."""

from __future__ import annotations

import streamlit as st

from pages import use_app_navigation

from explorer.i18n import _
from explorer.lessons import LESSON_KEYS, LESSONS, charts, lesson
from pages.lesson_views import LESSON_PAGES

use_app_navigation()


# Projector: larger body text, widget labels, the widgets' own text (choices, values, buttons) and tables;
# captions dark enough to survive a washed-out image.
st.html(f"""<style>
.stMarkdown p, .stMarkdown li {{font-size: {charts.FONT + 2}px;}}
[data-testid="stWidgetLabel"] p, [data-testid="stMetricLabel"] p, .stRadio label p {{font-size: {charts.FONT}px;}}
[data-testid="stCaptionContainer"] {{opacity: 1;}}
[data-testid="stCaptionContainer"] p {{font-size: {charts.FONT - 1}px; color: #333;}}
[data-testid="stAlert"] p {{font-size: {charts.FONT + 1}px;}}
[data-testid="stTable"] td, [data-testid="stTable"] th {{font-size: {charts.FONT}px;}}
[data-testid="stSelectbox"] input, [data-testid="stMultiSelect"] span, [data-testid="stNumberInput"] input,
[data-testid="stRadio"] label p,
[data-testid="stCheckbox"] label p, .stButton button p, .stDownloadButton button p,
[data-testid="stTooltipIcon"] svg {{font-size: {charts.FONT}px;}}
[data-testid="stSliderThumbValue"] p, [data-testid="stSliderTickBar"] p {{font-size: {charts.FONT - 2}px;}}
</style>""")  # constant CSS, no user text

current = lesson(st.query_params.get("lesson", "gradients"))
titles = {item.key: item.title for item in LESSONS}
key = st.selectbox(_("Lesson"), LESSON_KEYS, index=LESSON_KEYS.index(current.key),
                   format_func=lambda k: _(titles[k]))
st.query_params["lesson"] = key
current = lesson(key)
st.header(_(current.title))
st.markdown(_("**Question for the class:** {question}").format(question=_(current.question)))

LESSON_PAGES[key]()
