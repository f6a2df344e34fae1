"""ResNet Explorer: entry file. Pages live in pages/; logic lives in the explorer library."""

import streamlit as st

st.set_page_config(page_title="ResNet Explorer", page_icon="🧱", layout="wide")


def home() -> None:
    st.title("ResNet Explorer")
    st.write("Explore the residual-network family: build a design, see what it costs, train it, compare it.")


st.navigation([
    st.Page(home, title="Home", icon="🏠", default=True),
    st.Page("pages/build.py", title="Build", icon="🧱", url_path="build"),
    st.Page("pages/compare.py", title="Compare", icon="⚖️", url_path="compare"),
    st.Page("pages/train.py", title="Train", icon="🏋️", url_path="train"),
    st.Page("pages/lessons.py", title="Lessons", icon="🎓", url_path="lessons"),
]).run()
