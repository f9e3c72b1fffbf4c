"""hosting: see README "How it is built"."""
