"""The CCG co-commissioning atlas as a Dash app. ``gunicorn app:server`` serves it; ``python app.py`` runs it
for development. The atlas is read once per process, before the first request, and shared read-only."""

from __future__ import annotations

import argparse
import os

from dash import Dash

from dashboard import callbacks, layout, routes, security
from dashboard.state import ViewState
from geodata.atlas import load_atlas


def create_app(debug: bool = False) -> Dash:
    atlas = load_atlas()
    app = Dash(
        __name__,
        title="CCG co-commissioning atlas 2015-2016",
        serve_locally=True,  # every script from this server: no CDN
        compress=True,
        update_title=None,
        meta_tags=[{"name": "viewport", "content": "width=device-width, initial-scale=1"},
                   {"name": "description", "content": "Primary care co-commissioning levels of England's 209 CCGs, "
                                                      "2015/16 and 2016/17, with sources."}],
    )
    app.layout = layout.page(atlas, ViewState())
    callbacks.register(app, atlas)
    routes.register(app.server, atlas)
    security.install(app, debug=debug)
    return app


app = create_app(debug=os.environ.get("DASH_DEBUG") == "1")
server = app.server


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="Run the atlas with Dash's development server")
    parser.add_argument("--debug", action="store_true", help="Dash dev tools and reloading (development only)")
    parser.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8050")))
    args = parser.parse_args()
    if args.debug:
        app = create_app(debug=True)
    app.run(host=args.host, port=args.port, debug=args.debug)
