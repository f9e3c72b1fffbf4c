"""Placeholder until the analysis module is wired."""

from __future__ import annotations

from dash import html


def cluster_table(atlas, state):  # noqa: ANN001, ANN201
    return None


def clustering_panel(atlas, state):  # noqa: ANN001, ANN201
    return html.P("Clustering analysis is being computed.")
