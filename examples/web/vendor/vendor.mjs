// Copies the third-party modules the demo page loads from the npm packages
// pinned in tests/interop (package.json, package-lock.json) into this
// directory, unchanged, and writes the page's import map (index.html, between
// its "importmap" markers) so that the browser resolves their bare imports
// ('yjs', 'lib0/encoding', ...) to these copies. The page has no build step:
// this runs only when a pinned version changes.
//
//   (cd tests/interop && npm ci) && node examples/web/vendor/vendor.mjs
//
// tests/browser/demo.test.js calls plan() and checks that the files here and
// the import map are what this would write.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const WEB = path.dirname(HERE);
const MODULES = path.join(WEB, '..', '..', 'tests', 'interop', 'node_modules');
// What a browser loading ES modules asks of a package's "exports".
const CONDITIONS = ['browser', 'module', 'import', 'default'];
// The page's own imports: the bare ones go through the import map.
const ENTRIES = ['yjs', 'y-websocket'];
// Files taken as they are, imported by relative path.
const FILES = [['socket.io-client', 'dist/socket.io.esm.min.js', 'socket.io.esm.min.js']];

function packageOf(spec) {
  const parts = spec.split('/');
  const n = spec.startsWith('@') ? 2 : 1;
  return { name: parts.slice(0, n).join('/'), sub: parts.length > n ? `./${parts.slice(n).join('/')}` : '.' };
}

function pick(target) {
  if (typeof target === 'string') return target;
  if (Array.isArray(target)) {
    for (const t of target) {
      const r = pick(t);
      if (r) return r;
    }
    return null;
  }
  if (target && typeof target === 'object') {
    for (const c of CONDITIONS) if (c in target) {
      const r = pick(target[c]);
      if (r) return r;
    }
  }
  return null;
}

// A bare specifier's file, by the package's "exports" (or "module"/"main").
function resolveBare(spec, modules) {
  const { name, sub } = packageOf(spec);
  const dir = path.join(modules, name);
  const pkg = JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8'));
  let rel = null;
  if (pkg.exports) {
    const exp = typeof pkg.exports === 'string' || !Object.keys(pkg.exports).some((k) => k.startsWith('.')) ? { '.': pkg.exports } : pkg.exports;
    rel = pick(exp[sub]);
  } else if (sub === '.') rel = pkg.module || pkg.main;
  if (!rel) throw new Error(`cannot resolve ${spec} for the browser`);
  return { pkg: name, version: pkg.version, license: pkg.license, file: path.join(dir, rel) };
}

const IMPORTS = /(?:^|[;\n}])\s*(?:import|export)\s*(?:[\w*{}\s,$]+?\s*from\s*)?['"]([^'"\n]+)['"]/g;

// Every file the entries need, and the import map of their bare imports.
export function plan(modules = MODULES) {
  const files = new Map(); // source file -> {pkg, rel}
  const map = {};
  const packages = new Map(); // name -> {version, license, dir}
  const queue = [];
  const add = (spec, file, pkg) => {
    const dir = path.join(modules, pkg);
    if (!files.has(file)) {
      files.set(file, { pkg, rel: path.relative(dir, file) });
      queue.push(file);
    }
    return `./vendor/${pkg}/${path.relative(dir, file).split(path.sep).join('/')}`;
  };
  const bare = (spec) => {
    const r = resolveBare(spec, modules);
    packages.set(r.pkg, { version: r.version, license: r.license });
    map[spec] = add(spec, r.file, r.pkg);
  };
  ENTRIES.forEach(bare);
  while (queue.length) {
    const file = queue.shift();
    const { pkg } = files.get(file);
    const src = fs.readFileSync(file, 'utf8');
    for (const m of src.matchAll(IMPORTS)) {
      const spec = m[1];
      if (spec.startsWith('.')) add(spec, path.resolve(path.dirname(file), spec), pkg);
      else if (!(spec in map)) bare(spec);
    }
  }
  const copies = [...files].map(([from, { pkg, rel }]) => ({ from, to: path.join(HERE, pkg, rel) }));
  for (const [pkg, file, to] of FILES) {
    const p = JSON.parse(fs.readFileSync(path.join(modules, pkg, 'package.json'), 'utf8'));
    packages.set(pkg, { version: p.version, license: p.license });
    copies.push({ from: path.join(modules, pkg, file), to: path.join(HERE, to), flat: true });
  }
  for (const [pkg] of packages) {
    const dir = path.join(modules, pkg);
    const lic = fs.readdirSync(dir).find((f) => /^licen[cs]e/i.test(f));
    if (!lic) throw new Error(`${pkg} has no license file`);
    copies.push({ from: path.join(dir, lic), to: path.join(HERE, `${pkg}.LICENSE`) });
  }
  const sorted = Object.fromEntries(Object.entries(map).sort(([a], [b]) => (a < b ? -1 : 1)));
  return { copies, importMap: { imports: sorted }, packages };
}

const MARK = /(<script type="importmap">\n)[\s\S]*?(\n<\/script>)/;

export function importMapOf(html) {
  const m = MARK.exec(html);
  return m ? JSON.parse(html.slice(m.index + m[1].length, m.index + m[0].length - m[2].length)) : null;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { copies, importMap, packages } = plan();
  for (const { from, to } of copies) {
    fs.mkdirSync(path.dirname(to), { recursive: true });
    fs.copyFileSync(from, to);
  }
  const index = path.join(WEB, 'index.html');
  const html = fs.readFileSync(index, 'utf8');
  if (!MARK.test(html)) throw new Error('index.html has no <script type="importmap"> block');
  fs.writeFileSync(index, html.replace(MARK, (_, a, b) => a + JSON.stringify(importMap, null, 2) + b));
  for (const [name, p] of packages) console.log(`${name} ${p.version} (${p.license})`);
  console.log(`${copies.length} files copied; index.html's import map has ${Object.keys(importMap.imports).length} entries`);
}
