"""The page: its layout, callbacks, panels and table. It renders the atlas service's views and reports; it
counts, rounds and words nothing that a report (:mod:`dashboard.report`) already states."""
