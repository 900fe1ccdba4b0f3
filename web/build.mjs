#!/usr/bin/env node
// Build the coachbox web UI and embed it in the server as a C source file.
//
//   node build.mjs --out /path/to/assets_data.c [--dist DIR] [--no-dist]
//
// 1. esbuild bundles src/app.js and src/app.css (minified, content-hashed
//    names under /assets/).  The NHS design system CSS comes precompiled from
//    nhsuk-frontend; its Frutiger @font-face rules (a CDN) are stripped and the
//    system font stack used instead, and the icons it references are emitted
//    as hashed files.  Nothing is fetched from the internet at run time.
// 2. index.html and manifest.webmanifest are filled in from src/ templates;
//    icons from src/icons/ get hashed names; sw.js is minified with the list
//    of app-shell files baked in.
// 3. Every file is gzipped (zlib level 9) and written, raw and compressed, as
//    one C file matching include/coachbox/assets.h.  The files are also
//    written to web/dist/ (or --dist DIR) for inspection.
//
// Fails (exit 1) if the total compressed size exceeds BUDGET_BYTES.

import * as esbuild from 'esbuild';
import { createHash } from 'node:crypto';
import { constants as zc, gzipSync } from 'node:zlib';
import fs from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const WEB = path.dirname(fileURLToPath(import.meta.url));
const SRC = path.join(WEB, 'src');
const BUDGET_BYTES = 150 * 1024;
const NHSUK_CSS = /[\\/]nhsuk-frontend[\\/]dist[\\/]nhsuk[\\/]nhsuk-frontend\.min\.css$/;
const SYSTEM_FONTS =
  'system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,"Noto Sans","Liberation Sans",sans-serif';

const CONTENT_TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.webmanifest': 'application/manifest+json',
  '.json': 'application/json',
  '.woff2': 'font/woff2',
  '.txt': 'text/plain; charset=utf-8',
};

function usage(msg) {
  if (msg) console.error(`build.mjs: ${msg}`);
  console.error('usage: node build.mjs --out FILE.c [--dist DIR | --no-dist]');
  process.exit(2);
}

function parseArgs(argv) {
  const opts = { out: null, dist: path.join(WEB, 'dist') };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--out' || a === '--dist') {
      if (i + 1 >= argv.length) usage(`${a} needs a value`);
      opts[a.slice(2)] = path.resolve(argv[++i]);
    } else if (a.startsWith('--out=')) {
      opts.out = path.resolve(a.slice(6));
    } else if (a.startsWith('--dist=')) {
      opts.dist = path.resolve(a.slice(7));
    } else if (a === '--no-dist') {
      opts.dist = null;
    } else if (!a.startsWith('-') && !opts.out) {
      opts.out = path.resolve(a);
    } else {
      usage(`unknown argument ${a}`);
    }
  }
  if (!opts.out) usage('--out is required');
  return opts;
}

const sha256 = (buf) => createHash('sha256').update(buf).digest('hex');

// esbuild plugin: make the precompiled NHS CSS self-contained.
const nhsukCssPlugin = {
  name: 'nhsuk-css',
  setup(build) {
    build.onLoad({ filter: NHSUK_CSS }, async (args) => {
      let css = await fs.readFile(args.path, 'utf8');
      const before = css.length;
      // Frutiger is served from a CDN: drop the @font-face rules entirely.
      css = css.replace(/@font-face\s*\{[^}]*\}/g, '');
      css = css.replace(/font-family:\s*"?Frutiger W01"?\s*,\s*arial\s*,\s*sans-serif/gi,
                        `font-family:${SYSTEM_FONTS}`);
      // Icons are referenced as /assets/images/...; point them at the package
      // files so esbuild emits them with hashed names.
      css = css.replace(/url\(\s*(["']?)\/assets\/images\//g, 'url($1./assets/images/');
      css = css.replace(/\/\*# sourceMappingURL=[^*]*\*\//g, '');
      // Old Internet Explorer hacks ("@media screen\0 and ...") that esbuild
      // rightly calls invalid; no supported browser reads them.
      css = css.replace(/@media screen\\0[^{]*\{(?:[^{}]*\{[^{}]*\})*[^{}]*\}/g, '');
      if (css.length === before) throw new Error('nhsuk CSS rewrite matched nothing; check the nhsuk-frontend version');
      return { contents: css, loader: 'css', resolveDir: path.dirname(args.path) };
    });
  },
};

async function bundle() {
  const result = await esbuild.build({
    absWorkingDir: WEB,
    entryPoints: [
      { in: 'src/app.js', out: 'app' },
      { in: 'src/app.css', out: 'app' },
    ],
    bundle: true,
    format: 'esm',
    target: ['es2020', 'chrome100', 'safari15', 'firefox100', 'edge100'],
    minify: true,
    charset: 'utf8',
    legalComments: 'none',
    banner: { css: '/*! NHS.UK frontend (nhsuk-frontend), MIT licence, (c) NHS England */' },
    entryNames: 'assets/[name]-[hash]',
    assetNames: 'assets/[name]-[hash]',
    publicPath: '/',
    outdir: path.join(WEB, '.esbuild-out'), // virtual: write is false
    write: false,
    metafile: true,
    loader: { '.svg': 'file', '.png': 'file', '.woff2': 'file' },
    plugins: [nhsukCssPlugin],
    logLevel: 'warning',
  });
  const outRoot = path.join(WEB, '.esbuild-out');
  const files = [];
  let js = null;
  let css = null;
  for (const f of result.outputFiles) {
    const rel = path.relative(outRoot, f.path).split(path.sep).join('/');
    const url = '/' + rel;
    const meta = result.metafile.outputs[path.relative(WEB, f.path).split(path.sep).join('/')];
    if (meta && meta.entryPoint === 'src/app.js') js = url;
    if (url.endsWith('.css') && meta && meta.entryPoint === 'src/app.css') css = url;
    files.push({ url, data: Buffer.from(f.contents), immutable: true });
  }
  if (!js || !css) throw new Error('esbuild did not produce the app JS and CSS entries');
  return { files, js, css };
}

// Copy src/icons/* as /assets/<name>-<hash>.<ext>.
async function icons() {
  const dir = path.join(SRC, 'icons');
  const names = (await fs.readdir(dir)).filter((n) => !n.startsWith('.')).sort();
  const map = new Map();
  const files = [];
  for (const name of names) {
    const data = await fs.readFile(path.join(dir, name));
    const ext = path.extname(name);
    const url = `/assets/${path.basename(name, ext)}-${sha256(data).slice(0, 10)}${ext}`;
    map.set(name, url);
    files.push({ url, data, immutable: true });
  }
  return { files, map };
}

// Replace {{css}}, {{js}}, {{icon:NAME}} in a template; fail on anything unknown.
function fill(template, vars, iconMap, what) {
  return template.replace(/\{\{\s*([a-z]+)(?::([^}\s]+))?\s*\}\}/g, (m, key, arg) => {
    if (key === 'icon') {
      if (!iconMap.has(arg)) throw new Error(`${what}: unknown icon ${arg}`);
      return iconMap.get(arg);
    }
    if (!(key in vars)) throw new Error(`${what}: unknown placeholder ${m}`);
    return vars[key];
  });
}

async function serviceWorker(shell, version) {
  const r = await esbuild.build({
    absWorkingDir: WEB,
    entryPoints: ['src/sw.js'],
    bundle: true,
    format: 'iife',
    target: ['es2020', 'chrome100', 'safari15', 'firefox100'],
    minify: true,
    legalComments: 'none',
    write: false,
    outfile: path.join(WEB, '.esbuild-out', 'sw.js'),
    define: {
      __CB_SHELL__: JSON.stringify(shell),
      __CB_VERSION__: JSON.stringify(version),
    },
    logLevel: 'warning',
  });
  return Buffer.from(r.outputFiles[0].contents);
}

function contentType(url) {
  const ext = path.extname(url).toLowerCase();
  const t = CONTENT_TYPES[ext];
  if (!t) throw new Error(`no content type known for ${url}`);
  return t;
}

function cString(s) {
  if (!/^[\x20-\x7e]*$/.test(s)) throw new Error(`non-ASCII or control character in ${JSON.stringify(s)}`);
  return '"' + s.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\?/g, '\\?') + '"';
}

function cBytes(name, buf) {
  const lines = [];
  // An empty initializer list is not valid C11: keep one byte; the length says 0.
  const bytes = buf.length ? buf : Buffer.from([0]);
  for (let i = 0; i < bytes.length; i += 16) {
    const row = [];
    for (let j = i; j < Math.min(i + 16, bytes.length); j++) row.push('0x' + bytes[j].toString(16).padStart(2, '0'));
    lines.push('    ' + row.join(', ') + ',');
  }
  return `static const unsigned char ${name}[${bytes.length}] = {\n${lines.join('\n')}\n};\n`;
}

function cSource(assets) {
  const out = [];
  out.push('/* Generated by web/build.mjs: do not edit.  The embedded web UI bundle. */');
  out.push('#include <stddef.h>\n');
  out.push('#include "coachbox/assets.h"\n');
  assets.forEach((a, i) => {
    out.push(`/* ${a.url}: ${a.raw.length} bytes, ${a.gz.length} gzipped */`);
    out.push(cBytes(`asset${i}_raw`, a.raw));
    out.push(cBytes(`asset${i}_gz`, a.gz));
  });
  out.push('/* Sorted by path (byte order, as strcmp) so lookups may binary-search. */');
  out.push('const struct cb_asset cb_assets[] = {');
  assets.forEach((a, i) => {
    out.push(`    {${cString(a.url)}, ${cString(a.type)}, ${cString(a.etag)}, ${a.immutable ? 1 : 0},`);
    out.push(`     asset${i}_raw, ${a.raw.length}u, asset${i}_gz, ${a.gz.length}u},`);
  });
  out.push('};\n');
  out.push('const size_t cb_assets_count = sizeof cb_assets / sizeof cb_assets[0];');
  return out.join('\n') + '\n';
}

async function writeAtomic(file, data) {
  await fs.mkdir(path.dirname(file), { recursive: true });
  const tmp = `${file}.tmp-${process.pid}`;
  await fs.writeFile(tmp, data);
  await fs.rename(tmp, file);
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));

  const { files: bundled, js, css } = await bundle();
  const { files: iconFiles, map: iconMap } = await icons();
  const vars = { js, css };

  const indexHtml = fill(await fs.readFile(path.join(SRC, 'index.html'), 'utf8'), vars, iconMap, 'index.html');
  const manifestText = fill(await fs.readFile(path.join(SRC, 'manifest.webmanifest'), 'utf8'), vars, iconMap,
                            'manifest.webmanifest');
  JSON.parse(manifestText); // must stay valid JSON
  const manifest = Buffer.from(JSON.stringify(JSON.parse(manifestText)));

  const files = [
    { url: '/index.html', data: Buffer.from(indexHtml), immutable: false },
    { url: '/manifest.webmanifest', data: manifest, immutable: false },
    ...bundled,
    ...iconFiles,
  ];

  // The app shell the service worker precaches: everything but sw.js itself.
  const shell = files.map((f) => f.url).sort();
  const version = sha256(Buffer.concat(files.map((f) => Buffer.concat([Buffer.from(f.url + '\0'), f.data]))))
    .slice(0, 16);
  files.push({ url: '/sw.js', data: await serviceWorker(shell, version), immutable: false });

  // Guard rails: the CSP allows only same-origin resources.
  const cssText = files.find((f) => f.url === css).data.toString('utf8');
  if (/url\(\s*["']?(?:https?:)?\/\//i.test(cssText) || /@font-face/i.test(cssText)) {
    throw new Error('app CSS references an external resource or a web font');
  }
  if (/<script(?![^>]*\bsrc=)[^>]*>|\sstyle=|<style/i.test(indexHtml)) {
    throw new Error('index.html has an inline script or style (blocked by the CSP)');
  }

  const seen = new Set();
  const assets = files.map((f) => {
    if (seen.has(f.url)) throw new Error(`duplicate asset path ${f.url}`);
    seen.add(f.url);
    return {
      url: f.url,
      type: contentType(f.url),
      etag: `"${sha256(f.data).slice(0, 16)}"`,
      immutable: f.immutable,
      raw: f.data,
      gz: gzipSync(f.data, { level: zc.Z_BEST_COMPRESSION }),
    };
  });
  assets.sort((a, b) => Buffer.compare(Buffer.from(a.url), Buffer.from(b.url)));

  let raw = 0;
  let gz = 0;
  for (const a of assets) {
    raw += a.raw.length;
    gz += a.gz.length;
    console.log(`  ${a.url.padEnd(44)} ${String(a.raw.length).padStart(8)} ${String(a.gz.length).padStart(8)} gz`);
  }
  const kb = (n) => (n / 1024).toFixed(1) + ' KB';
  console.log(`web bundle: ${assets.length} files, ${kb(raw)} raw, ${kb(gz)} gzipped (budget ${kb(BUDGET_BYTES)})`);
  if (gz > BUDGET_BYTES) {
    throw new Error(`total compressed size ${gz} bytes exceeds the ${BUDGET_BYTES}-byte budget; nothing written`);
  }

  if (opts.dist) {
    await fs.rm(opts.dist, { recursive: true, force: true });
    for (const a of assets) await writeAtomic(path.join(opts.dist, ...a.url.split('/').filter(Boolean)), a.raw);
  }
  await writeAtomic(opts.out, cSource(assets));
  console.log(`wrote ${opts.out}`);
}

main().catch((err) => {
  console.error(`build.mjs: ${err && err.message ? err.message : err}`);
  process.exit(1);
});
