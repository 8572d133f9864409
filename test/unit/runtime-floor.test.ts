// The shipped addons load where VS Code does: each needs no library, and no
// symbol version of one, newer than VS Code's floor (glibc 2.28, GCC 8's
// libstdc++), as the dynamic loader sees them in the ELF's version needs.
// The capture helper, a program and not a library, is linked statically:
// it needs no library at all, so it runs wherever its addon loads.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { describe, test } from 'node:test';

const ROOT = path.resolve(__dirname, '..', '..', '..');
/** Each platform's build of the addons the .vsix files ship (scripts/package.mjs). */
const BUILDS: Record<string, string> = {
  'linux-x64': path.join(ROOT, 'native', 'build', 'Release'),
  'linux-arm64': path.join(ROOT, 'native', 'build', 'linux-arm64', 'build', 'Release'),
};
const ADDONS = Object.entries(BUILDS).flatMap(([target, dir]) => ['sideband.node', 'sideband_symbols.node'].map((name) => ({ target, file: path.join(dir, name) })));

/**
 * Each library an addon may need, and the newest version of each of its
 * version namespaces it may ask for: what the oldest distribution VS Code
 * runs on (RHEL 8, Debian 10, Ubuntu 20.04) has.
 */
const FLOOR: Record<string, Record<string, string>> = {
  'libc.so.6': { GLIBC: '2.28' },
  'libm.so.6': { GLIBC: '2.28' },
  'libstdc++.so.6': { GLIBCXX: '3.4.25', CXXABI: '1.3.11' },
  'libgcc_s.so.1': { GCC: '7.0.0' },
  // elfutils 0.176 is Ubuntu 20.04's; RHEL 8 has a newer one.
  'libdw.so.1': { ELFUTILS: '0.176' },
  // libelf's first version node: all this addon needs.
  'libelf.so.1': { ELFUTILS: '1.0' },
};

/** The version needs of an ELF file, by library: objdump -p's "required from" lists. */
function versionNeeds(objdumpPrivate: string): Map<string, string[]> {
  const needs = new Map<string, string[]>();
  let library: string[] | undefined;
  for (const line of objdumpPrivate.split('\n')) {
    const needed = /^\s+NEEDED\s+(\S+)$/.exec(line);
    if (needed) needs.set(needed[1], needs.get(needed[1]) ?? []);
    const from = /^\s+required from (\S+):$/.exec(line);
    if (from) {
      library = needs.get(from[1]) ?? [];
      needs.set(from[1], library);
      continue;
    }
    const version = /^\s+0x[0-9a-f]+ 0x[0-9a-f]+ \d+ (\S+)$/.exec(line);
    if (version && library) library.push(version[1]);
    else if (!/^\s+0x/.test(line)) library = undefined;
  }
  return needs;
}

function newer(version: string, than: string): boolean {
  const a = version.split('.').map(Number);
  const b = than.split('.').map(Number);
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    if ((a[i] ?? 0) !== (b[i] ?? 0)) return (a[i] ?? 0) > (b[i] ?? 0);
  }
  return false;
}

/** What an addon needs beyond the floor: one line per library or version. */
function aboveFloor(needs: Map<string, string[]>): string[] {
  const wrong: string[] = [];
  for (const [library, versions] of needs) {
    const floor = FLOOR[library];
    if (!floor) {
      wrong.push(`${library}: not a library every distribution has`);
      continue;
    }
    for (const version of versions) {
      const [, space, number] = /^([A-Z]+)_([\d.]+)$/.exec(version) ?? [];
      if (!space || !(space in floor)) wrong.push(`${library}: ${version} is no version of ${Object.keys(floor).join(' or ')}`);
      else if (newer(number, floor[space])) wrong.push(`${library}: ${version} is newer than ${space}_${floor[space]}`);
    }
  }
  return wrong;
}

describe('runtime floor', () => {
  test('a version above the floor, or a library outside it, is found', () => {
    const sample = [
      'Dynamic Section:',
      '  NEEDED               libc.so.6',
      '  NEEDED               libfoo.so.1',
      'Version References:',
      '  required from libc.so.6:',
      '    0x06969194 0x00 04 GLIBC_2.14',
      '    0x06969197 0x00 03 GLIBC_2.33',
      '',
    ].join('\n');
    assert.deepEqual(aboveFloor(versionNeeds(sample)), [
      'libc.so.6: GLIBC_2.33 is newer than GLIBC_2.28',
      'libfoo.so.1: not a library every distribution has',
    ]);
  });

  for (const { target, file: addon } of ADDONS) {
    test(`${target} ${path.basename(addon)} needs at most glibc 2.28 and GCC 8's libstdc++`, () => {
      const dump = spawnSync('objdump', ['-p', addon], { encoding: 'utf8' });
      assert.equal(dump.status, 0, `objdump -p ${addon}: ${dump.stderr}`);
      const needs = versionNeeds(dump.stdout);
      assert.ok(needs.has('libc.so.6'), `no libc in what objdump -p says of ${addon}`);
      assert.deepEqual(aboveFloor(needs), []);
    });
  }

  for (const [target, dir] of Object.entries(BUILDS)) {
    const helper = path.join(dir, 'sideband-capture');
    test(`${target} sideband-capture is static: no loader, no library`, () => {
      const dump = spawnSync('objdump', ['-p', helper], { encoding: 'utf8' });
      assert.equal(dump.status, 0, `objdump -p ${helper}: ${dump.stderr}`);
      assert.match(dump.stdout, /file format elf64/);
      assert.deepEqual([...versionNeeds(dump.stdout).keys()], [], 'no NEEDED library');
      assert.doesNotMatch(dump.stdout, /^\s+INTERP\s/m, 'no dynamic loader');
    });
  }
});
