/* The page map names its CCGs when few enough are in view (an area team, London): at most data-names-up-to on
   #map-frame (layout.NAMES_UP_TO). A CCG is in view when its label point (the CCG trace's customdata, LON_AT and
   LAT_AT in dashboard/figures/geo_map.py) falls inside the map's plot area at the current zoom and pan, and it is
   not faded (outside the filter). The names
   are an SVG layer over the graph (#map-name-layer, no pointer events), redrawn after every draw, zoom or pan of
   the map, so they never get in the way of Dash's figure; the "map-names" checkbox hides them.

   Each name is placed at its point or just above, below, left or right of it, wherever it overlaps no name already
   placed and stays inside the map; a name that fits nowhere is left out (counted in data-names-left-out), since
   names over each other are read as neither: zooming in (+) names them. Signals for scripts and tests on
   #map-frame: data-names-in-view, data-names-shown, data-names-left-out. */
(function () {
  'use strict';
  var CCG_TRACE = 2, NAME_AT = 0, LON_AT = 9, LAT_AT = 10;  /* geo_map.py: T_CCG, customdata positions */
  var SVG = 'http://www.w3.org/2000/svg';

  function shortName(name) {
    return String(name || '').replace(/^NHS /, '').replace(/ CCG$/, '');
  }

  /* A name on one line, or two when long, split at the space nearest its middle. */
  function lines(name) {
    if (name.length <= 16 || name.indexOf(' ') < 0) { return [name]; }
    var mid = name.length / 2, best = -1;
    for (var i = 0; i < name.length; i++) {
      if (name[i] === ' ' && (best < 0 || Math.abs(i - mid) < Math.abs(best - mid))) { best = i; }
    }
    return [name.slice(0, best), name.slice(best + 1)];
  }

  function namesOn() {
    var box = document.querySelector('#map-names input[type=checkbox]');
    return !box || box.checked;
  }

  function draw() {
    var frame = document.getElementById('map-frame');
    var layer = document.getElementById('map-name-layer');
    var gd = document.querySelector('#ccg-map .js-plotly-plot');
    if (!frame || !layer || !gd || !gd._fullLayout || !gd._fullLayout.geo) { return; }
    var sub = gd._fullLayout.geo._subplot, size = gd._fullLayout._size, trace = gd.data && gd.data[CCG_TRACE];
    if (!sub || !sub.projection || !trace || !Array.isArray(trace.customdata)) { return; }
    var dom = gd._fullLayout.geo.domain;
    var x0 = size.l + size.w * dom.x[0], x1 = size.l + size.w * dom.x[1];
    var y0 = size.t + size.h * (1 - dom.y[1]), y1 = size.t + size.h * (1 - dom.y[0]);
    /* Only CCGs drawn in their own colour: a faded CCG (outside the filter, z = the faded slot, the top of the
       colour scale) is not named. */
    var faded = Array.isArray(trace.z) ? Math.round(trace.zmax - 0.5) : null;
    var inView = [];
    trace.customdata.forEach(function (row, i) {
      if (faded !== null && trace.z[i] === faded) { return; }
      var p = sub.projection([Number(row[LON_AT]), Number(row[LAT_AT])]);
      if (p && p[0] >= x0 && p[0] <= x1 && p[1] >= y0 && p[1] <= y1) { inView.push({name: row[NAME_AT], p: p}); }
    });
    var upTo = Number(frame.dataset.namesUpTo || 40);
    var show = namesOn() && inView.length <= upTo;
    frame.dataset.namesInView = String(inView.length);
    var graphBox = gd.getBoundingClientRect(), frameBox = frame.getBoundingClientRect();
    layer.style.left = (graphBox.left - frameBox.left) + 'px';
    layer.style.top = (graphBox.top - frameBox.top) + 'px';
    layer.style.width = graphBox.width + 'px';
    layer.style.height = graphBox.height + 'px';
    var svg = layer.querySelector('svg');
    if (!svg) {
      svg = document.createElementNS(SVG, 'svg');
      layer.appendChild(svg);
    }
    svg.setAttribute('width', String(graphBox.width));
    svg.setAttribute('height', String(graphBox.height));
    while (svg.firstChild) { svg.removeChild(svg.firstChild); }
    var placed = [], overlapping = 0;
    if (show) {
      inView.forEach(function (c) {
        var text = lines(shortName(c.name));
        var w = 6.2 * Math.max.apply(null, text.map(function (t) { return t.length; })) + 4, h = 12 * text.length + 2;
        var tries = [[0, 0], [0, -h / 2 - 6], [0, h / 2 + 6], [-w / 2 - 6, 0], [w / 2 + 6, 0]];
        var at = null;
        for (var i = 0; i < tries.length && !at; i++) {
          var cx = c.p[0] + tries[i][0], cy = c.p[1] + tries[i][1];
          var box = [cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2];
          var clear = box[0] >= x0 && box[2] <= x1 && box[1] >= y0 && box[3] <= y1 && placed.every(function (b) {
            return box[2] <= b[0] || box[0] >= b[2] || box[3] <= b[1] || box[1] >= b[3];
          });
          if (clear) { at = box; }
        }
        if (!at) {  /* a name over another is read as neither: left out, and counted */
          overlapping += 1;
          return;
        }
        placed.push(at);
        var el = document.createElementNS(SVG, 'text');
        el.setAttribute('class', 'map-name');
        el.setAttribute('text-anchor', 'middle');
        text.forEach(function (t, k) {
          var span = document.createElementNS(SVG, 'tspan');
          span.setAttribute('x', String((at[0] + at[2]) / 2));
          span.setAttribute('y', String(at[1] + 11 + 12 * k));
          span.textContent = t;
          el.appendChild(span);
        });
        svg.appendChild(el);
      });
    }
    frame.dataset.namesShown = String(placed.length);
    frame.dataset.namesLeftOut = String(overlapping);
  }

  var queued = false;
  function schedule() {
    if (queued) { return; }
    queued = true;
    window.requestAnimationFrame(function () { queued = false; draw(); });
  }

  function hook() {
    var gd = document.querySelector('#ccg-map .js-plotly-plot');
    if (!gd || !gd.on) { return false; }
    if (!gd.dataset.namesHook) {
      gd.dataset.namesHook = '1';
      gd.on('plotly_afterplot', schedule);
      gd.on('plotly_relayout', schedule);
      gd.on('plotly_relayouting', schedule);
    }
    schedule();
    return true;
  }

  function watch() {
    if (hook()) { return; }
    var observer = new MutationObserver(function () { if (hook()) { observer.disconnect(); } });
    observer.observe(document.body, {childList: true, subtree: true});
  }
  document.addEventListener('change', function (ev) {
    if (ev.target && ev.target.closest && ev.target.closest('#map-names')) { schedule(); }
  });
  window.addEventListener('resize', schedule);
  if (document.readyState === 'loading') { document.addEventListener('DOMContentLoaded', watch); } else { watch(); }
}());
