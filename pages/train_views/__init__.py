"""The Train page's views (a package, so Streamlit lists no page)."""
