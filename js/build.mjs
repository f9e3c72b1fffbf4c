// Builds build/js/plotly-atlas.min.js from the pinned plotly.js package (package-lock.json), with esbuild and
// the settings plotly.js uses for its own bundles (esbuild-config.js): an IIFE exposing window.Plotly, minified,
// no GLSL and no map library (the map is a geo subplot: d3-geo and SVG). A CSS import, should a module have one,
// is inlined as a <style> element, so the bundle stays one file of this server.
import { build } from 'esbuild';
import { readFile, mkdir, writeFile } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import path from 'node:path';

const out = process.argv[2] || 'build/js/plotly-atlas.min.js';

const inlineCss = {
  name: 'inline-css',
  setup(b) {
    b.onLoad({ filter: /\.css$/ }, async (args) => {
      const css = await readFile(args.path, 'utf8');
      const id = createHash('sha256').update(css).digest('hex');
      return {
        loader: 'js',
        contents: `if (!document.getElementById(${JSON.stringify(id)})) {
  var s = document.createElement('style'); s.id = ${JSON.stringify(id)};
  s.textContent = ${JSON.stringify(css)}; document.head.appendChild(s);
}`,
      };
    });
  },
};

// plotly.js's registry requires MapLibre's stylesheet when a map trace is registered (src/registry.js); esbuild
// bundles that require wherever it sits, so it is answered with an empty module: no map trace is registered here.
const noMapCss = {
  name: 'no-maplibre-css',
  setup(b) {
    b.onResolve({ filter: /^maplibre-gl\/dist\/maplibre-gl\.css$/ }, () => ({ path: 'none', namespace: 'empty' }));
    b.onLoad({ filter: /.*/, namespace: 'empty' }, () => ({ contents: '', loader: 'js' }));
  },
};

// What the geo map never uses, answered with small stand-ins (about 140 kB of the minified bundle):
// - d3-geo-projection: the map is drawn in Mercator, which d3-geo itself has (plotly's geo.js looks a projection up
//   in d3-geo first, then here); any other projection type would fail to draw, loudly.
// - country-iso-search: country-name matching for locationmode "country names"; the map's locations are its
//   GeoJSON's ids (locationmode "geojson-id"), so the lookup plotly builds at load time is never asked.
const STANDINS = {
  'd3-geo-projection': 'module.exports = {};',
  'country-iso-search': 'module.exports = {COUNTRIES: [], createLookup: function () {'
    + ' return {lookupAlpha3: function () { return undefined; }}; }};',
};
const standIns = {
  name: 'stand-ins',
  setup(b) {
    b.onResolve({ filter: new RegExp(`^(${Object.keys(STANDINS).join('|')})$`) },
                (args) => ({ path: args.path, namespace: 'stand-in' }));
    b.onLoad({ filter: /.*/, namespace: 'stand-in' }, (args) => ({ contents: STANDINS[args.path], loader: 'js' }));
  },
};

await mkdir(path.dirname(out), { recursive: true });
const result = await build({
  entryPoints: ['js/plotly-atlas.js'],
  write: false,
  format: 'iife',
  globalName: 'Plotly',
  bundle: true,
  minify: true,
  legalComments: 'none',
  banner: { js: '/* plotly.js 4.1.1 partial bundle (choropleth, scattergeo, bar, box, scatter) (c) Plotly, Inc. MIT */' },
  plugins: [noMapCss, standIns, inlineCss],
  alias: { stream: 'stream-browserify' },
  define: { global: 'window', 'define.amd': 'false', 'process.env.NODE_DEBUG': 'false' },
  target: 'es2016',
  logLevel: 'warning',
});
const bundle = result.outputFiles[0].text;
// No map library may come back in through a dependency (MapLibre was 60% of the bundle).
if (/maplibre/i.test(bundle)) throw new Error('the bundle holds MapLibre code');
await writeFile(out, bundle);
console.log(`built ${out}`);
