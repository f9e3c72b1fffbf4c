/* The deprivation chart arrives with its CCGs as row numbers (dashboard/figures.py wire_points): each CCG's name
   and IMD score are filled in from the map's per-CCG customdata, which the page holds from its first load, so a
   filter or year change does not send 209 names and scores again. The figure drawn is the one the server made. */
window.dash_clientside = Object.assign({}, window.dash_clientside, {
  atlasCharts: {
    fromMap: function (wire, map) {
      if (!wire || !Array.isArray(wire.data) || !wire.fromMap) {
        return wire || window.dash_clientside.no_update;
      }
      const custom = map && map.data && map.data[0] && map.data[0].customdata;
      if (!Array.isArray(custom)) {
        return window.dash_clientside.no_update;
      }
      const fields = wire.fromMap;
      const data = wire.data.map(function (trace) {
        if (!Array.isArray(trace.rows)) { return trace; }
        const out = Object.assign({}, trace);
        delete out.rows;
        Object.keys(fields).forEach(function (key) {
          out[key] = trace.rows.map(function (r) { return custom[r] ? custom[r][fields[key]] : null; });
        });
        return out;
      });
      return {data: data, layout: wire.layout};
    }
  }
});
