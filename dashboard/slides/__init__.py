"""slides: see README "How it is built"."""
