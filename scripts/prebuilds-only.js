#!/usr/bin/env node
// The install script is `node-gyp-build "node scripts/prebuilds-only.js"`:
// node-gyp-build first tries to load a prebuild from prebuilds/ (or an
// existing build/); only when none loads does it run this file, then compile
// the addon with node-gyp. With PREBUILDS_ONLY set (to anything but "" or
// "0"), compiling is not wanted: this says why no prebuild fits and fails the
// install, so node-gyp never starts. Without it, it does nothing.
'use strict';
const path = require('path');

const wanted = process.env.PREBUILDS_ONLY;
if (!wanted || wanted === '0') process.exit(0);

const root = path.join(__dirname, '..');
let reason;
try {
  // node-gyp-build reads PREBUILDS_ONLY too: it looks in prebuilds/ alone.
  const file = require('node-gyp-build').path(root);
  try {
    require(file);
    reason = `${path.relative(root, file)} loads now; run the install again`;
  } catch (error) {
    reason = `${path.relative(root, file)} does not load: ${String(error.message).split('\n')[0]}`;
  }
} catch (error) {
  reason = String(error.message).trim().split('\n')[0];
}

console.error(
  [
    'ipvs: PREBUILDS_ONLY is set, so the addon is not compiled, and no prebuilt addon fits this machine:',
    `  ${reason}`,
    '  The package carries prebuilds for linux-x64 and linux-arm64 with glibc 2.35 or newer',
    '  (Debian 12, Ubuntu 22.04, Fedora 36, RHEL 10 and later).',
    '  Unset PREBUILDS_ONLY to compile it instead (needs a C++ compiler, make, python3, pkg-config',
    '  and the libnl headers: on Debian/Ubuntu build-essential python3 pkg-config libnl-genl-3-dev).',
  ].join('\n'),
);
process.exit(1);
