// Generates the Perfetto trace messages' TypeScript (core/perfetto/gen/)
// from Perfetto's own merged .proto, with Debian's protoc and
// @bufbuild/protoc-gen-es, when the .proto or the generator changed since
// the last run: it takes protoc-gen-es about 25 s, too long for every build.
//
//   node scripts/gen-perfetto.mjs

import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';

const root = path.resolve(import.meta.dirname, '..');
const dir = path.join(root, 'core', 'perfetto');
const proto = 'perfetto_trace.proto';
const out = path.join(dir, 'gen');
const generated = path.join(out, 'perfetto_trace_pb.ts');
const stampFile = path.join(out, 'stamp');
const plugin = path.join(root, 'node_modules', '.bin', 'protoc-gen-es');
const pluginVersion = JSON.parse(fs.readFileSync(path.join(root, 'node_modules', '@bufbuild', 'protoc-gen-es', 'package.json'), 'utf8')).version;

const stamp = `${createHash('sha256').update(fs.readFileSync(path.join(dir, proto))).digest('hex')} protoc-gen-es ${pluginVersion}\n`;
if (fs.existsSync(generated) && fs.existsSync(stampFile) && fs.readFileSync(stampFile, 'utf8') === stamp) process.exit(0);

fs.rmSync(out, { recursive: true, force: true });
fs.mkdirSync(out, { recursive: true });
try {
  execFileSync('protoc', ['-I', dir, `--plugin=protoc-gen-es=${plugin}`, `--es_out=${out}`, '--es_opt=target=ts', proto], { stdio: ['ignore', 'inherit', 'inherit'] });
} catch (e) {
  const cause = e.code === 'ENOENT' ? 'protoc is not installed' : `protoc failed (${e.message})`;
  console.error(`gen-perfetto: ${cause}, so the Perfetto export cannot be built. Fix: install Debian's protobuf-compiler (bash scripts/setup.sh does).`);
  process.exit(1);
}
fs.writeFileSync(stampFile, stamp);
