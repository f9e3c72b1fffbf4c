// Builds build/js/plotly-atlas.min.js from the pinned plotly.js package (package-lock.json), with esbuild and
// the settings plotly.js uses for its own bundles (esbuild-config.js): an IIFE exposing window.Plotly, CSS
// (MapLibre's) inlined as a <style> element, GLSL not needed (no WebGL trace of plotly's own is included).
import { build } from 'esbuild';
import { readFile, mkdir } from 'node:fs/promises';
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

await mkdir(path.dirname(out), { recursive: true });
await build({
  entryPoints: ['js/plotly-atlas.js'],
  outfile: out,
  format: 'iife',
  globalName: 'Plotly',
  bundle: true,
  minify: true,
  legalComments: 'none',
  banner: { js: '/* plotly.js 4.1.1 partial bundle (choroplethmap, scattermap, bar, box, scatter) (c) Plotly, Inc. MIT */' },
  plugins: [inlineCss],
  alias: { regl: '@plotly/regl', stream: 'stream-browserify' },
  define: { global: 'window', 'define.amd': 'false', 'process.env.NODE_DEBUG': 'false' },
  target: 'es2016',
  logLevel: 'warning',
});
console.log(`built ${out}`);
