// The .vsix files npm run package writes, one per platform: each says its
// target and holds only its own platform's addons.

import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import * as zlib from 'node:zlib';

import { repoRoot } from './codeserver';

/** ELF e_machine of each target's addons. */
const MACHINE: Record<string, number> = { 'linux-x64': 62, 'linux-arm64': 183 };
const ADDONS = ['extension/native/build/Release/sideband.node', 'extension/native/build/Release/sideband_symbols.node'];

/** The entries of a zip file, by name, read through its central directory. */
function unzip(file: string): Map<string, Buffer> {
  const zip = fs.readFileSync(file);
  const end = zip.lastIndexOf(Buffer.from([0x50, 0x4b, 0x05, 0x06]));
  assert.ok(end >= 0, `${file} has no zip end record`);
  const entries = new Map<string, Buffer>();
  let at = zip.readUInt32LE(end + 16);
  for (let i = 0; i < zip.readUInt16LE(end + 10); i++) {
    const method = zip.readUInt16LE(at + 10);
    const size = zip.readUInt32LE(at + 20);
    const nameLength = zip.readUInt16LE(at + 28);
    const name = zip.toString('utf8', at + 46, at + 46 + nameLength);
    const local = zip.readUInt32LE(at + 42);
    const data = local + 30 + zip.readUInt16LE(local + 26) + zip.readUInt16LE(local + 28);
    const stored = zip.subarray(data, data + size);
    entries.set(name, method === 8 ? zlib.inflateRawSync(stored) : stored);
    at += 46 + nameLength + zip.readUInt16LE(at + 30) + zip.readUInt16LE(at + 32);
  }
  return entries;
}

for (const [target, machine] of Object.entries(MACHINE)) {
  test(`perf-sideband-${target}.vsix targets ${target} and holds only its addons`, () => {
    const entries = unzip(path.join(repoRoot, `perf-sideband-${target}.vsix`));
    assert.match(entries.get('extension.vsixmanifest')?.toString('utf8') ?? '', new RegExp(`TargetPlatform="${target}"`));
    assert.deepEqual([...entries.keys()].filter((name) => name.endsWith('.node')).sort(), ADDONS);
    for (const addon of ADDONS) assert.equal(entries.get(addon)!.readUInt16LE(18), machine, `${addon}'s ELF machine`);
  });
}
