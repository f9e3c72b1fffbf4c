/* Fit the map to the filtered CCGs for the graph's actual size, sent as a clientside Patch (no server trip).
   The formulas are dashboard/figures/geo_map.py's fit_view() and geo_ranges(): the filter's bounds give a
   web-Mercator centre and zoom with a 5% margin on each side of the tighter dimension, and the geo subplot gets
   the longitude and latitude ranges of its whole plot area at that zoom. */
(function () {
  'use strict';

  /* The map's clicks and box or lasso selections go to the app from here, into the map-click and map-select stores
     (dashboard/state.py MAP_CLICK, MAP_SELECT), each event with a counter so that a second click on the same CCG is a
     new value. Each click is also recorded on the graph (a counter and its CCG): a test, or a script, can tell a click
     that reached the map from one the browser dropped, without the server. Plotly's graph div exists only once
     dcc.Graph has mounted, which can be after the first fit (that one frames the figure before its first draw), so
     every fit hooks the div it finds, or waits for one. */
  const CCG_TRACE = 2;  /* dashboard/figures/geo_map.py T_CCG */
  const LEGEND_BESIDE_PX = 200, LEGEND_BELOW_PX = 330;  /* LEGEND_PX in geo_map.py; the band a phone's legend takes */
  let waitingSince = null;
  function hookClicks() {
    const graph = document.getElementById('ccg-map');
    const gd = graph && graph.querySelector('.js-plotly-plot');
    if (!gd || !gd.on) {
      if (waitingSince === null) {
        waitingSince = Date.now();
        const poll = () => {
          const g = document.querySelector('#ccg-map .js-plotly-plot');
          if ((g && g.on) || Date.now() - waitingSince > 60000) {
            waitingSince = null;
            if (g && g.on) { hookClicks(); }
          } else {
            setTimeout(poll, 50);
          }
        };
        setTimeout(poll, 50);
      }
      return;
    }
    if (gd.dataset.clickHook) {
      return;
    }
    gd.dataset.clickHook = '1';
    /* Only the CCG layer's points (trace CCG_TRACE, figures.T_CCG), sent as curveNumber 0: "a CCG", which is what
       the app reads (dashboard/state.py map_event_codes). */
    const points = (ev) => ((ev && ev.points) || []).filter((p) => p && p.curveNumber === CCG_TRACE && p.location)
      .slice(0, 209).map((p) => ({curveNumber: 0, location: String(p.location)}));
    let events = 0;
    /* Every draw of the map is counted on the graph: a script waits until the count stops moving. */
    gd.on('plotly_afterplot', () => { graph.dataset.mapDraws = String(Number(graph.dataset.mapDraws || 0) + 1); });
    gd.on('plotly_click', (ev) => {
      const pt = ev && ev.points && ev.points[0];
      graph.dataset.clicks = String(Number(graph.dataset.clicks || 0) + 1);
      graph.dataset.lastClick = pt && pt.location ? String(pt.location) : '';
      events += 1;
      window.dash_clientside.set_props('map-click', {data: {points: points(ev).slice(0, 1), n: events}});
    });
    gd.on('plotly_selected', (ev) => {
      events += 1;
      window.dash_clientside.set_props('map-select', {data: {points: points(ev), n: events}});
    });
  }

  /* The graph's height before it has mounted: what style.css gives a ".map" in the frame on this screen (it fills
     a laptop's first screen, and a phone's map is taller for the legend under it), else the layout's fixed height
     (data-map-height). */
  function cssHeight(frame) {
    const probe = document.createElement('div');
    probe.className = 'map';
    probe.style.cssText = 'position:absolute;visibility:hidden;width:1px;';
    frame.appendChild(probe);
    const h = probe.offsetHeight;
    probe.remove();
    return h > 0 ? h : Number(frame.dataset.mapHeight) || 640;
  }

  window.dash_clientside = Object.assign({}, window.dash_clientside, {
    atlas: {
      fitMap: function (bounds) {
        /* Four numbers (west, south, east, north); a fifth, from the zoom buttons below, only makes a repeated click
           a new value, so the same button frames the map again after a pan. */
        if (!Array.isArray(bounds) || bounds.length < 4 || bounds.length > 5) {
          return window.dash_clientside.no_update;
        }
        bounds = bounds.slice(0, 4);
        /* Every fit asked for is counted: one still waiting below when a newer one arrives is dropped, so the map
           never jumps back to an older frame. */
        const fit = window.__atlasFits = (window.__atlasFits || 0) + 1;
        /* The map's size: the graph's once it is laid out. Before that (the first view's fit, on page load: the
           graph has not mounted, or has no height until Plotly draws) it is the frame the graph fills, already
           laid out, with the graph's fixed height (data-map-height). So the first draw is already framed for this
           screen and the map is drawn once. A frame that is not laid out (hidden) is waited for (a Promise is
           allowed here), else the fit would be computed for a 0-pixel map. */
        const frame = document.getElementById('map-frame');
        const size = () => {
          const g = document.getElementById('ccg-map');
          if (g && g.clientWidth > 0 && g.clientHeight > 0) {
            return [g.clientWidth, g.clientHeight];
          }
          return frame && frame.clientWidth > 0 ? [frame.clientWidth, cssHeight(frame)] : null;
        };
        if (!size()) {
          return new Promise((resolve) => {
            const started = Date.now();
            const poll = () => {
              if (window.__atlasFits !== fit) {
                resolve(window.dash_clientside.no_update);
              } else if (size() || Date.now() - started > 10000) {
                resolve(size() ? window.dash_clientside.atlas.fitMap(bounds) : window.dash_clientside.no_update);
              } else {
                setTimeout(poll, 50);
              }
            };
            poll();
          });
        }
        const [W, H] = size();
        hookClicks();
        const merc = (lat) => Math.log(Math.tan(Math.PI / 4 + lat * Math.PI / 360));
        const unmerc = (y) => (2 * Math.atan(Math.exp(y)) - Math.PI / 2) * 180 / Math.PI;
        const [west, south, east, north] = bounds;
        const zoomFor = (w, h) => Math.min(
          Math.log2(0.9 * w * 360 / (512 * Math.max(east - west, 1e-3))),
          Math.log2(0.9 * h * 2 * Math.PI / (512 * Math.max(merc(north) - merc(south), 1e-4))), 11);
        /* The legend never covers the map: a column on the right on a laptop or a tablet, a band underneath on a
           phone (narrower than 600 px), where a column would leave the map too narrow. */
        const below = W < 600;
        const plotW = below ? W : W - LEGEND_BESIDE_PX, plotH = below ? H - LEGEND_BELOW_PX : H;
        const zoom = Math.max(zoomFor(plotW, plotH), 0);
        const y = (merc(north) + merc(south)) / 2, lon = (west + east) / 2;
        const world = 512 * Math.pow(2, zoom);
        const halfLon = plotW / 2 * 360 / world, halfY = plotH / 2 * 2 * Math.PI / world;
        const patch = new window.dash_clientside.Patch();
        patch.assign(['layout', 'geo', 'center'], {lon: lon, lat: unmerc(y)});
        patch.assign(['layout', 'geo', 'lonaxis', 'range'], [lon - halfLon, lon + halfLon]);
        patch.assign(['layout', 'geo', 'lataxis', 'range'], [unmerc(y - halfY), unmerc(y + halfY)]);
        patch.assign(['layout', 'geo', 'projection', 'scale'], 1);
        patch.assign(['layout', 'geo', 'projection', 'rotation'], {lon: lon, lat: 0, roll: 0});
        /* A new uirevision: plotly drops the visitor's zoom and pan (kept across the server's Patches) for this
           frame. */
        patch.assign(['layout', 'uirevision'], 'fit-' + fit);
        if (frame) {
          frame.dataset.fitZoom = zoom.toFixed(4);  /* a test (or a script) waits until this fit is drawn */
          frame.dataset.fitRevision = 'fit-' + fit;
        }
        patch.assign(['layout', 'margin', 'b'], below ? LEGEND_BELOW_PX : 0);
        patch.assign(['layout', 'margin', 'r'], below ? 0 : LEGEND_BESIDE_PX);
        patch.assign(['layout', 'legend', 'x'], below ? 0 : 1);
        patch.assign(['layout', 'legend', 'xanchor'], 'left');
        patch.assign(['layout', 'legend', 'y'], below ? 0 : 0.94);  /* beside: under the modebar */
        patch.assign(['layout', 'legend', 'yanchor'], 'top');
        return patch.build();
      },
      /* A box or lasso selection becomes the app's selection (outlined in black); Plotly's own selection styling
         would also fade every CCG outside the box, which on this map means "outside the filter". Clear it. */
      clearPlotlySelection: function (selected) {
        const gd = document.querySelector('#ccg-map .js-plotly-plot');
        const ccgs = gd && gd.data && gd.data[CCG_TRACE];
        if (selected && window.Plotly && ccgs && ccgs.selectedpoints) {
          window.Plotly.restyle(gd, {selectedpoints: [null]}, [CCG_TRACE]);
        }
        return window.dash_clientside.no_update;
      }
    }
  });

  /* The England and London buttons beside the map: each carries its bounds (data-bounds, from the layout) and hands
     them to the same fit as the filters, through the map-bounds store, so the figure Dash holds is framed too and a
     later change (a click on a CCG) keeps the frame. */
  /* + and -: the geo subplot's scale, by half again or back, about the map's centre (for a keyboard, and for a
     touch screen, where one finger scrolls the page). Plotly keeps it as the visitor's zoom (uirevision). */
  document.addEventListener('click', function (ev) {
    const step = ev.target && ev.target.closest && ev.target.closest('#zoom-in, #zoom-out');
    const gd = step && document.querySelector('#ccg-map .js-plotly-plot');
    const geo = gd && gd._fullLayout && gd._fullLayout.geo;
    if (!geo || !window.Plotly) { return; }
    const scale = geo.projection.scale * (step.id === 'zoom-in' ? 1.5 : 1 / 1.5);
    window.Plotly.relayout(gd, {'geo.projection.scale': Math.min(Math.max(scale, 0.5), 64)});
  });

  document.addEventListener('click', function (ev) {
    const button = ev.target && ev.target.closest && ev.target.closest('#zoom-england, #zoom-london');
    if (!button || !window.dash_clientside || !window.dash_clientside.set_props) {
      return;
    }
    const bounds = (button.dataset.bounds || '').split(',').map(Number);
    if (bounds.length !== 4 || !bounds.every(Number.isFinite)) {
      return;
    }
    const graph = document.getElementById('ccg-map');
    const n = Number(graph.dataset.zoomRequests || 0) + 1;
    graph.dataset.zoomRequests = String(n);
    graph.dataset.zoomedTo = button.id.replace('zoom-', '');
    window.dash_clientside.set_props('map-bounds', {data: bounds.concat([n])});
  });
})();
