"""The dashboard: pure figure, state and analysis functions, thin Dash callbacks and the page layout."""
