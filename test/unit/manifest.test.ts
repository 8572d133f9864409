// What the Marketplace and Open VSX ask of the manifest and its files, and
// that a plain `vsce package` (no flags that paper over a missing field)
// packs them.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, test } from 'node:test';

const ROOT = path.resolve(__dirname, '..', '..', '..');
const VSCE = path.join(ROOT, 'node_modules', '.bin', 'vsce');
const manifest = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8'));

/** A PNG's width and height, from its IHDR chunk. */
function pngSize(file: string): { width: number; height: number } {
  const bytes = fs.readFileSync(file);
  assert.equal(bytes.subarray(1, 4).toString('latin1'), 'PNG', `${file} is not a PNG`);
  return { width: bytes.readUInt32BE(16), height: bytes.readUInt32BE(20) };
}

/** The images the README shows, as written in it. */
function readmeImages(): string[] {
  const readme = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');
  return [...readme.matchAll(/!\[[^\]]*\]\(([^)\s]+)\)/g)].map((m) => m[1]);
}

/** The files `vsce ls` says the .vsix holds. */
function packagedFiles(): string[] {
  const ls = spawnSync(VSCE, ['ls'], { cwd: ROOT, encoding: 'utf8' });
  assert.equal(ls.status, 0, `vsce ls: ${ls.stderr}`);
  return ls.stdout.split('\n').filter(Boolean);
}

describe('manifest', () => {
  test('names a repository, an icon of 128 by 128 pixels, a gallery banner and categories', () => {
    assert.match(manifest.repository?.url ?? '', /^https:\/\/github\.com\/[^/]+\/[^/]+\.git$/);
    assert.deepEqual(pngSize(path.join(ROOT, manifest.icon)), { width: 128, height: 128 });
    assert.match(manifest.galleryBanner?.color ?? '', /^#[0-9a-f]{6}$/i);
    assert.ok(['dark', 'light'].includes(manifest.galleryBanner?.theme), `galleryBanner.theme is ${manifest.galleryBanner?.theme}`);
    assert.ok(manifest.categories?.length > 0, 'no categories');
  });

  test('the CHANGELOG has a section for this version', () => {
    const changelog = fs.readFileSync(path.join(ROOT, 'CHANGELOG.md'), 'utf8');
    assert.match(changelog, new RegExp(`^## ${manifest.version.replace(/\./g, '\\.')}$`, 'm'));
  });

  test("the README's images are linked relatively and exist; the icon and the CHANGELOG ship in the .vsix", () => {
    const images = readmeImages();
    assert.ok(images.length >= 3, `the README shows ${images.length} images`);
    for (const image of images) {
      assert.ok(!/^[a-z]+:/i.test(image) && !image.startsWith('/'), `${image} is not a relative link`);
      assert.ok(fs.existsSync(path.join(ROOT, image)), `${image} does not exist`);
    }
    const packaged = packagedFiles();
    const missing = [manifest.icon, 'CHANGELOG.md'].filter((file) => !packaged.includes(file));
    assert.deepEqual(missing, []);
  });

  test('every command extension.ts registers is contributed; "Export to Perfetto…" is in the palette and the timeline\'s toolbar', () => {
    const source = fs.readFileSync(path.join(ROOT, 'extension', 'extension.ts'), 'utf8');
    const registered = [...source.matchAll(/registerCommand\('([^']+)'/g)].map((m) => m[1]);
    const contributed = new Map<string, { title: string }>(manifest.contributes.commands.map((c: { command: string; title: string }) => [c.command, c]));
    assert.deepEqual(registered.filter((c) => !contributed.has(c)), []);
    assert.equal(contributed.get('perfSideband.exportPerfetto')?.title, 'Export to Perfetto…');
    const hidden = manifest.contributes.menus.commandPalette.filter((m: { command: string; when?: string }) => m.command === 'perfSideband.exportPerfetto' && m.when === 'false');
    assert.deepEqual(hidden, []);
    const toolbar = manifest.contributes.menus['view/title'].find((m: { command: string }) => m.command === 'perfSideband.exportPerfetto');
    assert.match(toolbar?.when ?? '', /view == perfSideband\.timeline/);
    assert.match(toolbar?.group ?? '', /^navigation/);
  });

  test('the capture helper ships in the .vsix, executable, next to the addons', () => {
    const helper = 'native/build/Release/sideband-capture';
    assert.ok(packagedFiles().includes(helper), `vsce ls lists no ${helper}`);
    fs.accessSync(path.join(ROOT, helper), fs.constants.X_OK);
  });

  test("the Perfetto export's worker ships in the .vsix beside the extension, which starts it from its own folder", () => {
    const packaged = packagedFiles();
    assert.ok(packaged.includes('dist/perfettoWorker.js'), 'vsce ls lists no dist/perfettoWorker.js');
    assert.ok(packaged.includes(manifest.main.replace(/^\.\//, '')) && path.dirname(manifest.main) === './dist');
  });

  test('a plain vsce package works', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sideband-vsce-'));
    try {
      const vsix = path.join(dir, 'plain.vsix');
      const pack = spawnSync(VSCE, ['package', '-o', vsix], { cwd: ROOT, encoding: 'utf8' });
      assert.equal(pack.status, 0, `vsce package: ${pack.stderr}${pack.stdout}`);
      assert.ok(fs.statSync(vsix).size > 0);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
