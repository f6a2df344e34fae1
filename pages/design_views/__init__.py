"""Views the Build and Compare pages share (a package, so Streamlit lists no page)."""
