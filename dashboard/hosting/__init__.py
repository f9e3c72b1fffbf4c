"""Serving the app on a public host: routes beside Dash, headers and CSP, request checks, errors answered in one
place, compression, the layout cache, the plotly bundle and every use of Dash internals behind one adapter."""
