/* The page map's geometry, fetched once as a topology (dashboard/figures/map_geometry.py) and put back into the figure.

   The page's map figure refers to its geometry as "<url>#ccgs" (the GeoJSON of the CCG trace and of England in the
   faded tone beneath it), "<url>#teams" and "<url>#regions" (the border traces' lon and lat). Plotly.react and Plotly.newPlot are wrapped
   so that, before plotly sees a figure, each reference is replaced by the decoded value: the same objects every
   time, so plotly's diff of a later Patch finds the geometry unchanged. A figure without references (the slides,
   the fallback page) is passed through untouched. decode() mirrors map_geometry.decode(); the browser tests check
   the two agree. */
'use strict';

var REF = /\/_atlas\/geometry\.[0-9a-f]+\.json#(ccgs|teams|regions)$/;
var loading = {};  /* url -> Promise of the decoded parts */
var decoded = {};  /* url -> the decoded parts, once loaded */

function arcPoints(arcs, ref) {
  var flat = arcs[ref < 0 ? ~ref : ref];
  var x = flat[0], y = flat[1], pts = [[x, y]];
  for (var i = 2; i < flat.length; i += 2) {
    x += flat[i];
    y += flat[i + 1];
    pts.push([x, y]);
  }
  return ref < 0 ? pts.reverse() : pts;
}

function path(arcs, refs, scale) {
  var out = [];
  for (var i = 0; i < refs.length; i++) {
    var pts = arcPoints(arcs, refs[i]);
    for (var j = out.length ? 1 : 0; j < pts.length; j++) {
      out.push([pts[j][0] / scale, pts[j][1] / scale]);
    }
  }
  return out;
}

function decode(t) {
  if (!t || t.format !== 'atlas-topology/1') { throw new Error('map geometry: not an atlas-topology/1 payload'); }
  var arcs = t.arcs, scale = t.scale, c = t.ccgs, features = [];
  for (var i = 0; i < c.ids.length; i++) {
    var coords = c.polygons[i].map(function (polygon) {
      return polygon.map(function (ring) { return path(arcs, ring, scale); });
    });
    features.push({type: 'Feature', id: c.ids[i], properties: {},
                   geometry: c.multi[i] ? {type: 'MultiPolygon', coordinates: coords}
                                        : {type: 'Polygon', coordinates: coords[0]}});
  }
  var out = {ccgs: {type: 'FeatureCollection', features: features}};
  Object.keys(t.lines).forEach(function (name) {
    var lon = [], lat = [];
    t.lines[name].forEach(function (chain) {
      path(arcs, chain, scale).forEach(function (p) { lon.push(p[0]); lat.push(p[1]); });
      lon.push(null);
      lat.push(null);
    });
    out[name] = {lon: lon, lat: lat};
  });
  return out;
}

function urlOf(value) {
  return typeof value === 'string' && REF.test(value) ? value.slice(0, value.lastIndexOf('#')) : null;
}

function load(url) {
  if (!loading[url]) {
    /* Same mode and credentials as the page's <link rel="preload" as="fetch" crossorigin="anonymous">, so the
       browser hands over the preloaded response instead of asking again. */
    loading[url] = fetch(url, {credentials: 'same-origin'}).then(function (r) {
      if (!r.ok) { throw new Error('map geometry: ' + url + ' answered ' + r.status); }
      return r.json();
    }).then(function (t) {
      decoded[url] = decode(t);
      return decoded[url];
    });
  }
  return loading[url];
}

/* The URLs a figure refers to (in practice one). */
function references(data, layout) {
  var urls = {};
  (data || []).forEach(function (trace) {
    [trace && trace.geojson, trace && trace.lon, trace && trace.lat].forEach(function (v) {
      var u = urlOf(v);
      if (u) { urls[u] = true; }
    });
  });
  return Object.keys(urls);
}

function part(value) {
  var u = urlOf(value);
  return u ? decoded[u][value.slice(value.lastIndexOf('#') + 1)] : null;
}

/* Copies of the traces and layout with every reference replaced; the originals (Dash's props) are not touched. */
function resolve(data, layout) {
  var outData = (data || []).map(function (trace) {
    if (!trace) { return trace; }
    var copy = null;
    var geo = part(trace.geojson);
    if (geo) { copy = Object.assign({}, trace, {geojson: geo}); }
    var line = part(trace.lon);
    if (line) { copy = Object.assign(copy || Object.assign({}, trace), {lon: line.lon, lat: line.lat}); }
    return copy || trace;
  });
  return {data: outData, layout: layout};
}

/* A graph's figures are drawn one after another, in the order they were handed over: a figure waits until the
   graph's previous draw has finished and, if it refers to the geometry, until that has arrived: a newer figure
   drawn before an older one still waiting for the geometry would be overwritten by it. */
var drawing = new WeakMap();  /* graph div -> the promise of its last draw */

function wrap(Plotly, name) {
  var original = Plotly[name];
  Plotly[name] = function (gd, a, b, c) {
    var el = typeof gd === 'string' ? document.getElementById(gd) : gd;
    var whole = a && !Array.isArray(a) && typeof a === 'object';  /* react(gd, {data, layout, config, frames}) */
    var data = whole ? a.data : a, layout = whole ? a.layout : b;
    var urls = references(data, layout);
    var pending = urls.filter(function (u) { return !decoded[u]; });
    var self = this, args = arguments;
    var draw = function () {
      if (!urls.length) { return original.apply(self, args); }
      var r = resolve(data, layout);
      return whole ? original.call(self, gd, Object.assign({}, a, r))
                   : original.call(self, gd, r.data, r.layout, c);
    };
    var before = el ? drawing.get(el) : null;
    var out;
    if (!before && !pending.length) {
      out = Promise.resolve(draw());
    } else {
      out = (before || Promise.resolve()).then(function () { return Promise.all(pending.map(load)); })
        .then(draw, function (err) {
          console.error(err);  /* the map stays empty; the rest of the page works */
          throw err;
        });
    }
    if (el) {
      var settled = out.then(function () {}, function () {});
      drawing.set(el, settled);
      settled.then(function () { if (drawing.get(el) === settled) { drawing.delete(el); } });
    }
    return out;
  };
}

module.exports = function install(Plotly) {
  wrap(Plotly, 'react');
  wrap(Plotly, 'newPlot');
  Plotly.atlasGeometry = {decode: decode, load: load};
  return Plotly;
};
