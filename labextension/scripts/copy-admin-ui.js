// Copy the official Socket.IO Admin UI (npm @socket.io/admin-ui, its prebuilt ui/dist) to where
// the Python package serves it, {base_url}socket.io/admin/ (jupyter_rt/static/admin-ui/, built,
// not committed), so that the page loads nothing from outside:
// - its index.html links Google Fonts (Roboto) and a CDN copy of the Material Design Icons font:
//   both are replaced by local copies from npm (@fontsource/roboto, @mdi/font), woff2 only;
// - a <script src="jupyter-rt-admin.js"> (written by the Jupyter server, per server) is put
//   before the UI's own scripts: it points the UI at this server's /admin namespace;
// - source maps are left out.
// The build fails if any http(s) URL is left in what the page loads (HTML and CSS).
'use strict';
const fs = require('fs');
const path = require('path');

const packageRoot = (name) => path.dirname(require.resolve(`${name}/package.json`));
const admin = packageRoot('@socket.io/admin-ui');
const dist = path.join(admin, 'ui', 'dist');
const mdi = packageRoot('@mdi/font');
const roboto = packageRoot('@fontsource/roboto');
const target = path.resolve(__dirname, '..', '..', 'jupyter_rt', 'static', 'admin-ui');

const ROBOTO_WEIGHTS = [100, 300, 400, 500, 700, 900]; // those the UI asked Google for
const ROBOTO_SUBSETS = ['latin', 'latin-ext'];
const CONFIG_SCRIPT = 'jupyter-rt-admin.js';

function copy(from, to) {
  fs.mkdirSync(path.dirname(to), { recursive: true });
  fs.copyFileSync(from, to);
}

function copyTree(from, to, keep) {
  for (const entry of fs.readdirSync(from, { withFileTypes: true })) {
    const source = path.join(from, entry.name);
    const dest = path.join(to, entry.name);
    if (entry.isDirectory()) copyTree(source, dest, keep);
    else if (keep(entry.name)) copy(source, dest);
  }
}

function fail(message) {
  console.error(`copy-admin-ui: ${message}`);
  process.exit(1);
}

fs.rmSync(target, { recursive: true, force: true });

// The UI itself, without its source maps.
copyTree(dist, target, (name) => !name.endsWith('.map') && name !== 'index.html');

// Material Design Icons: the stylesheet with its @font-face reduced to the woff2 file.
const mdiCss = fs
  .readFileSync(path.join(mdi, 'css', 'materialdesignicons.min.css'), 'utf8')
  .replace(
    /@font-face\{[^}]*\}/,
    (face) => {
      const woff2 = face.match(/url\("([^"]*materialdesignicons-webfont\.woff2[^"]*)"\)/);
      if (!woff2) fail('no woff2 font in @mdi/font');
      return face
        .replace(/src:url\([^)]*\);/, '')
        .replace(/src:[^;}]*/, `src:url("${woff2[1]}") format("woff2")`);
    }
  );
fs.mkdirSync(path.join(target, 'fonts', 'mdi', 'css'), { recursive: true });
fs.writeFileSync(path.join(target, 'fonts', 'mdi', 'css', 'materialdesignicons.min.css'), mdiCss);
copy(
  path.join(mdi, 'fonts', 'materialdesignicons-webfont.woff2'),
  path.join(target, 'fonts', 'mdi', 'fonts', 'materialdesignicons-webfont.woff2')
);

// Roboto: the latin subsets of the weights the UI uses, woff2 only.
const faces = [];
for (const weight of ROBOTO_WEIGHTS) {
  const css = fs.readFileSync(path.join(roboto, `${weight}.css`), 'utf8');
  for (const block of css.split(/\n(?=\/\*)/)) {
    const name = (block.match(/^\/\* (roboto-[a-z-]+-\d+-normal) \*\//m) || [])[1];
    if (!name || !ROBOTO_SUBSETS.some((s) => name === `roboto-${s}-${weight}-normal`)) continue;
    const file = `${name}.woff2`;
    copy(path.join(roboto, 'files', file), path.join(target, 'fonts', 'roboto', file));
    faces.push(
      block.replace(/src:[^;]*;/, `src: url(./${file}) format('woff2');`).trim()
    );
  }
}
if (faces.length !== ROBOTO_WEIGHTS.length * ROBOTO_SUBSETS.length) {
  fail(`expected ${ROBOTO_WEIGHTS.length * ROBOTO_SUBSETS.length} Roboto faces, found ${faces.length}`);
}
fs.writeFileSync(path.join(target, 'fonts', 'roboto', 'roboto.css'), faces.join('\n\n') + '\n');

// index.html: local fonts, and the per-server configuration before the UI's scripts.
let html = fs.readFileSync(path.join(dist, 'index.html'), 'utf8');
const links = [
  [/<link[^>]*href="https:\/\/fonts\.googleapis\.com\/[^"]*"[^>]*>/, 'fonts/roboto/roboto.css'],
  [/<link[^>]*href="https:\/\/cdn\.jsdelivr\.net\/[^"]*materialdesignicons[^"]*"[^>]*>/, 'fonts/mdi/css/materialdesignicons.min.css'],
];
for (const [pattern, local] of links) {
  if (!pattern.test(html)) fail(`index.html has no link matching ${pattern}`);
  html = html.replace(pattern, `<link rel="stylesheet" href="${local}">`);
}
if (!html.includes('<script ')) fail('index.html has no script');
html = html.replace('<script ', `<script src="${CONFIG_SCRIPT}"></script><script `);
fs.writeFileSync(path.join(target, 'index.html'), html);

// Nothing the page loads may point outside (links inside the UI's scripts are not loaded).
for (const file of ['index.html', 'css', 'fonts']) {
  const check = (p) => {
    if (fs.statSync(p).isDirectory()) return fs.readdirSync(p).forEach((n) => check(path.join(p, n)));
    if (!/\.(html|css)$/.test(p)) return;
    const found = fs.readFileSync(p, 'utf8').match(/https?:\/\/[^\s"')]+/);
    if (found) fail(`${path.relative(target, p)} still refers to ${found[0]}`);
  };
  check(path.join(target, file));
}

// Licenses of what is shipped, and what was copied.
for (const [name, root] of [['admin-ui', admin], ['mdi-font', mdi], ['fontsource-roboto', roboto]]) {
  copy(path.join(root, 'LICENSE'), path.join(target, 'licenses', `${name}.LICENSE`));
}
const versions = Object.fromEntries(
  ['@socket.io/admin-ui', '@mdi/font', '@fontsource/roboto'].map((n) => [n, require(`${n}/package.json`).version])
);
fs.writeFileSync(path.join(target, 'admin-ui.json'), JSON.stringify(versions, null, 2) + '\n');
console.log(`@socket.io/admin-ui ${versions['@socket.io/admin-ui']} -> ${path.relative(process.cwd(), target)}`);
