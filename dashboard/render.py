"""Slide rendering (placeholder until the export module lands): raises so routes answer 503."""

from __future__ import annotations


class RendererUnavailable(RuntimeError):
    pass


def slide_bytes(atlas, state, fmt="png", width=1920, height=1080):  # noqa: ANN001, ANN201
    raise RendererUnavailable("slide rendering is not installed yet")
