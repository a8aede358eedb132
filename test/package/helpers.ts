// What scripts/test-package hands the package suite: the tarball `npm pack`
// made (with the prebuild in it), a scratch directory, and the Node binaries
// to run the installed copy with.
import * as path from 'path';

export const root = path.join(__dirname, '..', '..', '..');

function required(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: run the package suite through scripts/test-package`);
  return value;
}

/** The packed tarball. */
export const tarball = (): string => required('IPVS_PACKAGE_TARBALL');
/** A directory of scratch space, removed by scripts/test-package. */
export const workDir = (): string => required('IPVS_PACKAGE_WORK');
/** Absolute paths of the node binaries the installed copy must run on. */
export const nodes = (): string[] => required('IPVS_PACKAGE_NODES').split(/\s+/).filter(Boolean);

/** Files of a tarball: path (without the leading package/) and size. */
export function parseTarListing(listing: string): { path: string; size: number; mode: string }[] {
  return listing
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      // -rw-r--r-- 0/0           18380 1985-10-26 08:15 package/README.md
      const m = /^(\S+)\s+\S+\s+(\d+)\s+\S+\s+\S+\s+(.+)$/.exec(line);
      if (!m) throw new Error(`unexpected tar listing line: ${line}`);
      return { mode: m[1], size: Number(m[2]), path: m[3].replace(/^package\//, '') };
    });
}
/** Absolute paths of arm64 node binaries (run under qemu-aarch64), if the package has a linux-arm64 prebuild. */
export const arm64Nodes = (): string[] => (process.env.IPVS_PACKAGE_ARM64_NODES || '').split(/\s+/).filter(Boolean);
