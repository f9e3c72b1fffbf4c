"""The page's first map for any view in a few milliseconds: England's map, made once, patched to the view.

A shared link's layout carries its view's map (``layout.page``). Building that figure with plotly's graph
objects and stripping its geometry for the wire (``figures.map_figure`` then ``map_geometry.on_the_wire``) costs
about 0.2 s of CPU per view, most of it validating and copying geometry that the wire form then drops. Every
view's map is the same figure with a few per-CCG arrays changed, which is exactly what the map callback sends
when the view changes in the browser (``figures.map_patch``). So the wire form of England's map is made once
per service and geometry URL, and a view's map is a copy of it with ``map_patch`` applied (as a plain
nested-dict patch), plus what the callback leaves to the browser: the hover text of each year's level under the
view's evidence choice, the legend's title, and the geo subplot's centre and ranges that frame the filter (as
``figures.map_figure`` frames it). ``tests/test_layout_keys.py`` checks the result equals the direct build and
that England's map is left as it was.
"""

from __future__ import annotations

import copy
from typing import Any

from dashboard import figures
from dashboard.figures import map_geometry
from dashboard.service import AtlasService, View
from dashboard.state import ViewState, map_parts
from geodata.vocabulary import level_label

#: Positions in the map's ``customdata`` rows of the two years' level labels (see ``figures.map_figure``).
LEVEL_2015_AT, LEVEL_2016_AT = 3, 4


def england_on_the_wire(service: AtlasService, geometry_url: str) -> dict[str, Any]:
    """England's map as sent (geometry by URL), made once per service and URL; never handed out uncopied."""
    def make() -> dict[str, Any]:
        wire = map_geometry.on_the_wire(figures.map_figure(service.view(ViewState())), geometry_url)
        return copy.deepcopy(wire)  # plain dicts and lists all the way down, owned by no figure object

    return service.derived(f"first-map:{geometry_url}", make)


def page_map(view: View, geometry_url: str | None) -> Any:
    """The map a layout for ``view`` carries: patched from England's, or built directly without a geometry URL."""
    if not geometry_url:
        return figures.map_figure(view)
    service = view.service
    fig = _containers_copied(england_on_the_wire(service, geometry_url))
    figures.map_patch(fig, service, view, map_parts(ViewState(), False), map_parts(view.state, False), None)
    trace = fig["data"][figures.T_CCG]
    trace["customdata"] = [_with_levels(row, a, b) for row, a, b in
                           zip(trace["customdata"], view.levels_2015, view.levels_2016)]
    trace.pop("selectedpoints", None)  # map_patch clears Plotly's own selection; a first map has none
    layout = fig["layout"]
    layout["legend"]["title"]["text"] = figures.legend_title(view.state)
    height = 640  # map_figure's default: the browser frames the map again for its real size
    plot_w = 700 - figures.LEGEND_PX
    centre, zoom = figures.fit_view(figures.filter_bounds(view), plot_w, height)
    layout["geo"] = {**layout["geo"], **figures.geo_layout(centre, zoom, plot_w, height)}
    return fig


def _containers_copied(node: Any) -> Any:
    """``node`` with every dict, and every list that holds a dict or a list, copied; lists of plain values are
    shared with England's map. ``map_patch`` and :func:`page_map` replace such arrays whole and never change one
    in place, so this is as safe as a deep copy at a fraction of its cost (the arrays are most of the map)."""
    if isinstance(node, dict):
        return {k: _containers_copied(v) for k, v in node.items()}
    if isinstance(node, list) and any(isinstance(v, dict | list) for v in node):
        return [_containers_copied(v) for v in node]
    return node


def _with_levels(row: Any, level_2015: str, level_2016: str) -> list[Any]:
    out = list(row)
    out[LEVEL_2015_AT], out[LEVEL_2016_AT] = level_label(level_2015), level_label(level_2016)
    return out
