"""Placeholder: security headers and error handling are installed here."""

from __future__ import annotations

from dash import Dash


def install(app: Dash, debug: bool = False) -> None:
    del app, debug
