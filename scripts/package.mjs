// One .vsix per platform, `vsce package --target`, each holding only its
// own addons and capture helper: perf-sideband-linux-x64.vsix and
// perf-sideband-linux-arm64.vsix.
// What ships is what .vscodeignore lets through (`vsce ls`); each target's
// copy of it is staged in .cache/package/TARGET/ with that target's addons
// where the extension loads them from, native/build/Release/.
//
//   node scripts/package.mjs   (after npm run build and the production bundle)
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

const root = path.resolve(import.meta.dirname, '..');
const vsce = path.join(root, 'node_modules', '.bin', 'vsce');
const shippedAddons = 'native/build/Release/';
const addonsOf = {
  'linux-x64': 'native/build/Release',
  'linux-arm64': 'native/build/linux-arm64/build/Release',
};

const shipped = execFileSync(vsce, ['ls'], { cwd: root, encoding: 'utf8' }).split('\n').filter(Boolean);
for (const [target, addons] of Object.entries(addonsOf)) {
  const stage = path.join(root, '.cache', 'package', target);
  fs.rmSync(stage, { recursive: true, force: true });
  for (const file of [...shipped, '.vscodeignore']) {
    const from = file.startsWith(shippedAddons) ? path.join(root, addons, path.basename(file)) : path.join(root, file);
    fs.mkdirSync(path.dirname(path.join(stage, file)), { recursive: true });
    fs.copyFileSync(from, path.join(stage, file));
  }
  const vsix = path.join(root, `perf-sideband-${target}.vsix`);
  // vsce points the README's relative links at the repository named in package.json:
  // VS Code's details page, like the Marketplace's, shows only http(s) images.
  execFileSync(vsce, ['package', '--target', target, '--no-dependencies', '-o', vsix], { cwd: stage, stdio: 'inherit' });
}
