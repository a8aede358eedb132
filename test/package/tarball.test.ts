// The tarball `npm pack` makes (scripts/test-package packs it after
// scripts/prebuild): only what an install needs, everything a source build
// and the API need, the linux-x64 prebuild needing only glibc, and a size bound.
import assert from 'assert/strict';
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { parseTarListing, root, tarball, workDir } from './helpers';

// The two prebuilds (linux-x64, linux-arm64; static libnl and libstdc++,
// stripped) are most of it: about 1 MB each unpacked (0.4 MB packed); the
// JavaScript (dist/lib: the reconciler, health checks, the fleet agent, the
// CLI) is about 0.8 MB. On 2026-12-07 the tarball was 1.11 MB packed and
// 3.05 MB unpacked. The bounds leave room to grow, not for a stray directory
// or a third unplanned binary (+0.4 MB packed, +1 MB unpacked).
const MAX_PACKED = 1_400_000;
const MAX_UNPACKED = 3_600_000;

/** What may be in the package, and nothing else. */
const ALLOWED: RegExp[] = [
  /^package\.json$/,
  /^README\.md$/,
  /^LICENSE$/,
  /^bin\/ipvs\.js$/,
  /^binding\.gyp$/,
  /^native\/[a-z_]+\.(cc|h)$/, // the addon's sources, for the compile fallback
  /^dist\/lib\/([a-z_-]+\/)*[a-z_-]+\.(js|d\.ts)$/,
  /^dist\/typings\/[a-z_-]+\.d\.ts$/,
  /^prebuilds\/linux-(x64|arm64)\/ipvs\.glibc\.node$/,
  /^scripts\/sandbox$/, // the ipvs-sandbox command
  /^scripts\/prebuilds-only\.js$/, // the install script's PREBUILDS_ONLY check
];

/** Never in the package, each said by name (ALLOWED rules them out too). */
const FORBIDDEN: [RegExp, string][] = [
  [/(^|\/)test\/|\.test\.|_test\.cc$|(^|\/)fuzz/, 'a test'],
  [/^(dist\/)?bench\//, 'the benchmarks'],
  [/^(dist\/)?examples\//, 'the examples'],
  [/\.map$/, 'a source map'],
  [/^build\/|\.o$|\.a$|\.mk$|Makefile|config\.gypi/, 'build output'],
  [/^lib\/.*\.ts$|^typings\//, 'TypeScript sources'],
  [/node_modules\//, 'node_modules'],
  [/\.tgz$|\.log$|^\.|\/\./, 'a tarball, log or dotfile'],
];

describe('package: the tarball', function () {
  let files: { path: string; size: number; mode: string }[];
  let names: Set<string>;

  before(() => {
    files = parseTarListing(execFileSync('tar', ['-tvzf', tarball()], { encoding: 'utf8' })).filter((f) => !f.mode.startsWith('d'));
    names = new Set(files.map((f) => f.path));
  });

  it('holds only what an install needs: no tests, benchmarks, examples, source maps or build output', () => {
    const unexpected = files.map((f) => f.path).filter((p) => !ALLOWED.some((re) => re.test(p)));
    assert.deepEqual(unexpected, [], `files the package should not carry: ${unexpected.join(', ')}`);
    const named = files.flatMap((f) => FORBIDDEN.filter(([re]) => re.test(f.path)).map(([, what]) => `${f.path} (${what})`));
    assert.deepEqual(named, []);
  });

  it('carries every source binding.gyp compiles and every header they include', () => {
    // binding.gyp is a Python literal: drop its comment lines to read it as JSON.
    const gyp = JSON.parse(
      fs.readFileSync(path.join(root, 'binding.gyp'), 'utf8').split('\n').filter((l) => !/^\s*#/.test(l)).join('\n'),
    ) as { targets: { sources: string[] }[] };
    const sources = gyp.targets.flatMap((t) => t.sources);
    assert.ok(sources.length > 0);
    const missing = sources.filter((s) => !names.has(s));
    const included = [...names]
      .filter((p) => /^native\/.*\.(cc|h)$/.test(p))
      .flatMap((p) =>
        [...fs.readFileSync(path.join(root, p), 'utf8').matchAll(/^#include "([^"]+)"/gm)].map((m) => path.posix.join('native', m[1])),
      );
    assert.ok(included.length > 0);
    missing.push(...included.filter((h) => !names.has(h)));
    assert.deepEqual([...new Set(missing)], []);
  });

  it('carries every compiled module of lib/ and no module lib/ no longer has', () => {
    const modules: string[] = [];
    const walk = (dir: string): void => {
      for (const e of fs.readdirSync(path.join(root, dir), { withFileTypes: true })) {
        const p = path.posix.join(dir, e.name);
        if (e.isDirectory()) walk(p);
        else if (p.endsWith('.ts') && !p.endsWith('.d.ts')) modules.push(p.slice(0, -3));
      }
    };
    walk('lib');
    assert.ok(modules.length > 5);
    const missing = modules.flatMap((m) => [`dist/${m}.js`, `dist/${m}.d.ts`]).filter((p) => !names.has(p));
    assert.deepEqual(missing, [], 'modules of lib/ the package lacks (is dist/ built?)');
    const known = new Set(modules.map((m) => `dist/${m}`));
    const stale = [...names].filter((p) => p.startsWith('dist/lib/')).filter((p) => !known.has(p.replace(/(\.d\.ts|\.js)$/, '')));
    assert.deepEqual(stale, [], 'compiled files whose source is gone: a stale dist/ (run a clean build)');
  });

  it('carries every file package.json points at', () => {
    const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8'));
    const targets = [pkg.main, pkg.types, ...Object.values(pkg.bin as Record<string, string>)];
    for (const entry of Object.values(pkg.exports as Record<string, string | Record<string, string>>)) {
      targets.push(...(typeof entry === 'string' ? [entry] : Object.values(entry)));
    }
    const missing = targets.map((t: string) => t.replace(/^\.\//, '')).filter((t) => !names.has(t));
    assert.deepEqual(missing, []);
    const bins = files.filter((f) => Object.values(pkg.bin as Record<string, string>).includes(f.path));
    for (const b of bins) assert.match(b.mode, /^-rwx/, `${b.path} is not executable`);
  });

  it('carries the linux-x64 N-API prebuild, which needs only glibc (ldd)', () => {
    const inPackage = 'prebuilds/linux-x64/ipvs.glibc.node';
    assert.ok(names.has(inPackage), `no ${inPackage} in the tarball`);
    const dir = fs.mkdtempSync(path.join(workDir(), 'tarball-'));
    execFileSync('tar', ['-xzf', tarball(), '-C', dir, `package/${inPackage}`]);
    const addon = path.join(dir, 'package', inPackage);
    const needed = [...execFileSync('readelf', ['-d', addon], { encoding: 'utf8' }).matchAll(/\(NEEDED\).*\[(.+)\]/g)].map((m) => m[1]);
    assert.deepEqual(needed.filter((l) => !/^(libc\.so\.6|libm\.so\.6|ld-linux-x86-64\.so\.2)$/.test(l)), [], `needs ${needed.join(' ')}`);
    const ldd = execFileSync('ldd', [addon], { encoding: 'utf8' });
    const libraries = ldd.split('\n').map((l) => l.trim().split(/\s+/)[0]).filter(Boolean);
    console.log(`      ldd ${inPackage}:\n${ldd.replace(/^/gm, '        ').trimEnd()}`);
    assert.deepEqual(libraries.filter((l) => !/^(linux-vdso\.so\.1|libc\.so\.6|libm\.so\.6|\/lib64\/ld-linux-x86-64\.so\.2)$/.test(l)), []);
    // Not a single libnl symbol is exported (nor, so, interposable).
    const exported = execFileSync('nm', ['-D', '--defined-only', addon], { encoding: 'utf8' });
    assert.doesNotMatch(exported, /\b(nl_|genl_)\w+/);
  });

  it('carries the linux-arm64 N-API prebuild, which needs only glibc (readelf)', () => {
    const inPackage = 'prebuilds/linux-arm64/ipvs.glibc.node';
    assert.ok(names.has(inPackage), `no ${inPackage} in the tarball (scripts/prebuild makes it where g++-aarch64-linux-gnu is installed)`);
    const dir = fs.mkdtempSync(path.join(workDir(), 'tarball-'));
    execFileSync('tar', ['-xzf', tarball(), '-C', dir, `package/${inPackage}`]);
    const addon = path.join(dir, 'package', inPackage);
    const header = execFileSync('readelf', ['-h', addon], { encoding: 'utf8' });
    assert.match(header, /Machine:\s+AArch64/);
    const needed = [...execFileSync('readelf', ['-d', addon], { encoding: 'utf8' }).matchAll(/\(NEEDED\).*\[(.+)\]/g)].map((m) => m[1]);
    console.log(`      ${inPackage} needs: ${needed.join(' ')}`);
    assert.deepEqual(needed.filter((l) => !/^(libc\.so\.6|libm\.so\.6|ld-linux-aarch64\.so\.1)$/.test(l)), [], `needs ${needed.join(' ')}`);
  });

  it(`stays under ${MAX_PACKED / 1e6} MB packed and ${MAX_UNPACKED / 1e6} MB unpacked`, () => {
    const packed = fs.statSync(tarball()).size;
    const unpacked = files.reduce((sum, f) => sum + f.size, 0);
    console.log(`      ${path.basename(tarball())}: ${packed} bytes packed, ${unpacked} unpacked, ${files.length} files`);
    assert.ok(packed <= MAX_PACKED, `${packed} bytes packed`);
    assert.ok(unpacked <= MAX_UNPACKED, `${unpacked} bytes unpacked`);
  });
});
