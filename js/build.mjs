// Builds build/js/plotly-atlas.min.js from the pinned plotly.js package (package-lock.json), with esbuild and
// the settings plotly.js uses for its own bundles (esbuild-config.js): an IIFE exposing window.Plotly, CSS
// (MapLibre's) inlined as a <style> element, GLSL not needed (no WebGL trace of plotly's own is included).
//
// MapLibre's shared chunk is shipped once. MapLibre 6 is three modules: maplibre-gl.mjs (main thread) and
// maplibre-gl-worker.mjs (tile worker) both import maplibre-gl-shared.mjs (500 kB). plotly.js inlines the worker
// as a prebuilt string (build/maplibre_worker.js) holding its own copy of the shared chunk: 148 kB gzip more on
// the wire. Here the shared chunk is built once, as a self-contained function put verbatim at the top of the
// bundle (the banner) and called there; maplibre-gl.mjs and the worker import it from that global through a
// generated shim, and the worker's source is made at run time from the function's own text
// (Function.prototype.toString) followed by the worker code. No second download, no eval on the page (the
// worker is a blob: URL, already allowed by the page's worker-src), and nothing outside this file.
import { build } from 'esbuild';
import { readFile, mkdir, writeFile } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import path from 'node:path';

const out = process.argv[2] || 'build/js/plotly-atlas.min.js';
const SHARED = path.resolve('node_modules/maplibre-gl/dist/maplibre-gl-shared.mjs');
const WORKER = path.resolve('node_modules/maplibre-gl/dist/maplibre-gl-worker.mjs');
const GLOBAL = '__atlasMaplibreShared';  // the shared chunk's exports, on self (window or the worker)
const CODE = '__atlasMaplibreSharedCode';  // the function that sets it (a global function of the bundle)
const target = 'es2016';

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

// The shared chunk's export names, read by esbuild from the module itself.
const probe = await build({ entryPoints: [SHARED], bundle: true, write: false, format: 'esm', metafile: true,
                            logLevel: 'silent' });
const names = Object.values(probe.metafile.outputs)[0].exports;
if (!names.length || names.includes('default')) throw new Error(`unexpected exports of ${SHARED}: ${names}`);
// `import {x} from './maplibre-gl-shared.mjs'` reads x from the global, once (the chunk is evaluated first):
// a copy, not a live binding, which holds as the chunk never reassigns an export (checked in a browser: all
// 254 unchanged after the map is drawn, hovered and zoomed).
const shim = `const s = self.${GLOBAL};\n` + names.map((n, i) => `const _${i} = s[${JSON.stringify(n)}];`).join('\n')
  + `\nexport { ${names.map((n, i) => `_${i} as ${n}`).join(', ')} };\n`;
const sharedShim = {
  name: 'maplibre-shared-shim',
  setup(b) {
    b.onResolve({ filter: /maplibre-gl-shared\.mjs$/ }, () => ({ path: 'shim', namespace: 'maplibre-shared' }));
    b.onLoad({ filter: /.*/, namespace: 'maplibre-shared' }, () => ({ contents: shim, loader: 'js' }));
  },
};

const text = async (options) => (await build({ bundle: true, write: false, minify: true, legalComments: 'none',
                                               format: 'iife', target, logLevel: 'warning', ...options }))
  .outputFiles[0].text.trim();
// The shared chunk, self-contained (esbuild's helpers inside), setting self.__atlasMaplibreShared.
const sharedCode = await text({ stdin: { contents: `import * as s from ${JSON.stringify(SHARED)}; self.${GLOBAL} = s;`,
                                         resolveDir: process.cwd(), loader: 'js' } });
// MapLibre's worker without the shared chunk: what plotly.js's build/maplibre_worker.js is, minus that chunk.
const workerCode = await text({ entryPoints: [WORKER], plugins: [sharedShim] });
const workerSource = {
  name: 'maplibre-worker-source',
  setup(b) {
    b.onResolve({ filter: /[\\/]build[\\/]maplibre_worker(\.js)?$/ },
                () => ({ path: 'source', namespace: 'maplibre-worker' }));
    b.onLoad({ filter: /.*/, namespace: 'maplibre-worker' }, () => ({
      loader: 'js',
      contents: `module.exports = '(' + ${CODE}.toString() + ')();\\n' + ${JSON.stringify(workerCode)};`,
    }));
  },
};

// plotly.js takes MapLibre as a whole namespace (require), which keeps all of maplibre-gl.mjs; give it a module
// with only the members its source names (map.js: Map, AttributionControl, LngLat, setWorkerUrl), so esbuild drops
// the rest of the main thread's MapLibre (its package.json declares it free of side effects).
const MAIN = 'maplibre-gl/dist/maplibre-gl.mjs';
const usedMembers = {
  name: 'maplibre-used-members',
  setup(b) {
    b.onResolve({ filter: /^maplibre-gl\/dist\/maplibre-gl\.mjs$/ }, async (args) => {
      if (args.namespace === 'maplibre-members') return undefined;  // the wrapper's own import: the real file
      const src = await readFile(args.importer, 'utf8');
      const name = src.match(/(?:const|var|let)\s+(\w+)\s*=\s*require\(['"]maplibre-gl\/dist\/maplibre-gl\.mjs['"]\)/)?.[1];
      const uses = name ? [...src.matchAll(new RegExp(`\\b${name}\\b(\\.\\w+)?`, 'g'))] : [];
      // Anything but `name.member` (the namespace passed on, indexed, or an unexpected require): keep it whole.
      if (!uses.length || uses.slice(1).some((m) => !m[1])) return undefined;
      const members = [...new Set(uses.slice(1).map((m) => m[1].slice(1)))].sort();
      return { path: members.join(','), namespace: 'maplibre-members', pluginData: { resolveDir: args.resolveDir } };
    });
    b.onLoad({ filter: /.*/, namespace: 'maplibre-members' }, (args) => ({
      loader: 'js', resolveDir: args.pluginData.resolveDir,
      contents: `export { ${args.path.split(',').join(', ')} } from ${JSON.stringify(MAIN)};`,
    }));
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
  banner: { js: '/* plotly.js 4.1.1 partial bundle (choroplethmap, scattermap, bar, box, scatter) (c) Plotly, Inc. MIT;'
                + ' MapLibre GL JS (c) MapLibre contributors, BSD-3-Clause */\n'
                + `function ${CODE}(){${sharedCode}}${CODE}();` },
  plugins: [inlineCss, usedMembers, sharedShim, workerSource],
  alias: { regl: '@plotly/regl', stream: 'stream-browserify' },
  define: { global: 'window', 'define.amd': 'false', 'process.env.NODE_DEBUG': 'false' },
  target,
  logLevel: 'warning',
});
const bundle = result.outputFiles[0].text;
// The main thread must not carry a second copy of the shared chunk (one of its strings, as a check).
const marker = '`global-dispatcher`';
if (bundle.split('global-dispatcher').length - 1 !== 1) throw new Error(`the shared chunk is bundled twice? ${marker}`);
await writeFile(out, bundle);
console.log(`built ${out}`);
