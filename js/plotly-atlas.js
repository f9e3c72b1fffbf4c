/* plotly.js with only the trace types the atlas page draws: the map (choropleth and scattergeo, on a geo subplot:
   SVG paths, no WebGL and no map library) and the charts (bar, box, scatter). Built by `make js` (js/build.mjs)
   into build/js/plotly-atlas.min.js. Its react and newPlot fill in the map's geometry, which the page sends once
   as a topology (js/atlas-geometry.js). */
'use strict';

var Plotly = require('plotly.js/lib/core');

Plotly.register([
    require('plotly.js/lib/choropleth'),
    require('plotly.js/lib/scattergeo'),
    require('plotly.js/lib/bar'),
    require('plotly.js/lib/box')
]);

require('./atlas-geometry')(Plotly);

module.exports = Plotly;
