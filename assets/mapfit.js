/* Fit the map to the filtered CCGs for the graph's actual size, sent as a clientside Patch (no server trip).
   The formula is the one in dashboard/figures.py fit_view(). On narrow screens the legend goes under the map. */
window.dash_clientside = Object.assign({}, window.dash_clientside, {
  atlas: {
    fitMap: function (bounds) {
      const graph = document.getElementById('ccg-map');
      if (!Array.isArray(bounds) || bounds.length !== 4 || !graph) {
        return window.dash_clientside.no_update;
      }
      const narrow = graph.clientWidth < 600;
      const legendSpace = narrow ? 200 : 0;  /* under the map */
      const legendWidth = narrow ? 0 : 240;  /* beside it: LEGEND_PX in dashboard/figures.py */
      const w = graph.clientWidth - legendWidth, h = graph.clientHeight - legendSpace;
      const merc = (lat) => Math.log(Math.tan(Math.PI / 4 + lat * Math.PI / 360));
      const [west, south, east, north] = bounds;
      const zx = Math.log2(0.9 * w * 360 / (512 * Math.max(east - west, 1e-3)));
      const zy = Math.log2(0.9 * h * 2 * Math.PI / (512 * Math.max(merc(north) - merc(south), 1e-4)));
      const y = (merc(north) + merc(south)) / 2;
      const lat = (2 * Math.atan(Math.exp(y)) - Math.PI / 2) * 180 / Math.PI;
      const patch = new window.dash_clientside.Patch();
      patch.assign(['layout', 'map', 'center'], {lon: (west + east) / 2, lat: lat});
      patch.assign(['layout', 'map', 'zoom'], Math.min(zx, zy, 11));
      patch.assign(['layout', 'margin', 'b'], legendSpace);
      patch.assign(['layout', 'margin', 'r'], legendWidth);
      patch.assign(['layout', 'legend', 'x'], narrow ? 0 : 1);
      patch.assign(['layout', 'legend', 'xanchor'], 'left');
      patch.assign(['layout', 'legend', 'y'], narrow ? 0 : 0.94);  /* under the modebar */
      patch.assign(['layout', 'legend', 'yanchor'], 'top');
      return patch.build();
    },
    /* A box or lasso selection becomes the app's selection (outlined in black); Plotly's own selection styling
       would also fade every CCG outside the box, which on this map means "outside the filter". Clear it. */
    clearPlotlySelection: function (selected) {
      const gd = document.querySelector('#ccg-map .js-plotly-plot');
      if (selected && gd && window.Plotly && gd.data && gd.data[0] && gd.data[0].selectedpoints) {
        window.Plotly.restyle(gd, {selectedpoints: [null]}, [0]);
      }
      return window.dash_clientside.no_update;
    }
  }
});
