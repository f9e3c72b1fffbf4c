"""page: see README "How it is built"."""
