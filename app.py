"""ResNet Explorer: entry file. Pages live in pages/; logic lives in the explorer library."""

import streamlit as st

st.set_page_config(page_title="ResNet Explorer", page_icon="🧱", layout="wide")


def home() -> None:
    st.title("ResNet Explorer")
    st.write("Explore the residual-network family: build a design, see what it costs, train it, compare it.")


st.navigation([st.Page(home, title="Home", default=True)]).run()
