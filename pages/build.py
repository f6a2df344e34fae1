"""Build page (being built)."""

import streamlit as st

st.title("Build")
st.info("This page is being built.")
