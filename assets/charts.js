/* The deprivation chart arrives with its CCGs as row numbers (dashboard/figures wire_points): each CCG's name
   and IMD score are filled in from the map's per-CCG customdata, which the page holds from its first load, so a
   filter or year change does not send 209 names and scores again. The figure drawn is the one the server made. */
window.dash_clientside = Object.assign({}, window.dash_clientside, {
  atlasCharts: {
    fromMap: function (wire, map) {
      if (!wire || !Array.isArray(wire.data) || !wire.fromMap) {
        return wire || window.dash_clientside.no_update;
      }
      /* The CCG trace: the map's one trace with per-CCG customdata (dashboard/figures/geo_map.py T_CCG). */
      const ccgs = map && Array.isArray(map.data) && map.data.find(function (t) { return t && Array.isArray(t.customdata) && Array.isArray(t.locations); });
      const custom = ccgs && ccgs.customdata;
      if (!Array.isArray(custom)) {
        return window.dash_clientside.no_update;
      }
      const fields = wire.fromMap;
      /* A figure may name every trace's rows at once (rowTrace: one character per table row, the index of the
         trace it is drawn in, '.' for none: the size chart), else each trace carries its rows. */
      let byTrace = null;
      if (typeof wire.rowTrace === 'string') {
        byTrace = wire.data.map(function () { return []; });
        for (let i = 0; i < wire.rowTrace.length; i++) {
          const k = wire.rowTrace.charCodeAt(i) - 48;
          if (k >= 0 && k < byTrace.length) { byTrace[k].push(i); }
        }
      }
      const data = wire.data.map(function (trace, k) {
        const rows = byTrace ? byTrace[k] : trace.rows;
        if (!Array.isArray(rows)) { return trace; }
        const out = Object.assign({}, trace);
        delete out.rows;
        Object.keys(fields).forEach(function (key) {
          out[key] = rows.map(function (r) { return custom[r] ? custom[r][fields[key]] : null; });
        });
        return out;
      });
      return {data: data, layout: wire.layout};
    },

    /* The team chart arrives with each team's name and hover name once (dashboard/figures team_wire): every
       bar trace gets them back as its y and its last customdata item, its x is its customdata[0] (counts, drawn
       as shares by the layout's barnorm), and the y axis's categories are the names again. */
    teamChart: function (wire) {
      if (!wire || !Array.isArray(wire.data) || !Array.isArray(wire.teams)) {
        return wire || window.dash_clientside.no_update;
      }
      const teams = wire.teams, hover = wire.hover;
      const data = wire.data.map(function (trace) {
        const custom = trace.customdata.map(function (row, i) { return row.concat([hover[i]]); });
        return Object.assign({}, trace, {
          y: teams.slice(), x: trace.customdata.map(function (row) { return row[0]; }), customdata: custom
        });
      });
      const yaxis = Object.assign({}, wire.layout.yaxis, {tickvals: teams.slice(), categoryarray: teams.slice()});
      return {data: data, layout: Object.assign({}, wire.layout, {yaxis: yaxis})};
    }
  }
});
