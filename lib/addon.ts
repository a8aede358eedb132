// Loads the native addon. node-gyp-build, not `bindings`: it looks in
// prebuilds/<platform>-<arch>/ (where prebuildify puts binaries) before
// build/Release, and `bindings` does not know prebuilds/ at all.
import * as path from 'path';
import type { RawAddon } from '../typings/addon';

// eslint-disable-next-line @typescript-eslint/no-var-requires
const load: (dir: string) => unknown = require('node-gyp-build');

/** The package root: this file is dist/lib/addon.js. */
const root = path.join(__dirname, '..', '..');

export const addon = load(root) as RawAddon;
export type * from '../typings/addon';
