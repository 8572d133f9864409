// The layout's rules, checked: what each folder may import, and that each
// file says its one concern in its first line. A type check alone would not
// catch the server importing `vscode` (the root build has VS Code's types)
// or the core importing the Node side through a relative path.

import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, test } from 'node:test';

const ROOT = path.resolve(__dirname, '..', '..', '..');

/** Each folder of TypeScript that ships, and what its files may import: folders of ours, and packages. */
const RULES: Record<string, { folders: string[]; packages: RegExp }> = {
  // Pure: runs in the host, the CLI, the server and the webview alike; fzstd and protobuf-es (the Perfetto export's messages) are pure JavaScript.
  core: { folders: ['core'], packages: /^(fzstd|@bufbuild\/protobuf(\/codegenv2|\/wire)?)$/ },
  // The contracts: types and validators both ends import.
  protocol: { folders: ['protocol', 'core'], packages: /^vscode-languageserver-protocol$/ },
  // The faces of the addons: Node, and the core's types.
  native: { folders: ['native', 'core'], packages: /^node:/ },
  // Files, recording, symbols, the CLI, and a file followed into a timeline (which speaks the webview's contract): Node without VS Code.
  node: { folders: ['node', 'native', 'protocol', 'core'], packages: /^node:/ },
  // The language server: its own process, no VS Code API.
  server: { folders: ['server', 'node', 'native', 'protocol', 'core'], packages: /^(node:|vscode-languageserver(\/node|-textdocument)?$)/ },
  // VS Code wiring.
  extension: { folders: ['extension', 'node', 'native', 'protocol', 'core'], packages: /^(node:|vscode$|vscode-languageclient\/node$)/ },
  // Drawing, in the browser: no Node.
  webview: { folders: ['webview', 'protocol', 'core'], packages: /^$/ },
};

function tsFiles(dir: string): string[] {
  return fs.readdirSync(path.join(ROOT, dir), { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile() && e.name.endsWith('.ts') && !e.name.endsWith('.d.ts'))
    .map((e) => path.relative(ROOT, path.join(e.parentPath, e.name)))
    // native/ holds C++ folders; its TypeScript is at its top.
    .filter((file) => !file.startsWith('native/') || path.dirname(file) === 'native');
}

function importsOf(file: string): string[] {
  // Comment lines left out: generated code quotes its .proto's comments, where "from 'x'" is prose.
  const source = fs.readFileSync(path.join(ROOT, file), 'utf8').split('\n').filter((line) => !/^\s*(\/\/|\/\*|\*)/.test(line)).join('\n');
  return [...source.matchAll(/(?:\bfrom\s+|\bimport\s*\(\s*|\brequire\s*\(\s*|^import\s+)(['"])([^'"]+)\1/gm)].map((m) => m[2]);
}

describe('layout', () => {
  test('every folder of TypeScript has a rule', () => {
    const folders = fs.readdirSync(ROOT, { withFileTypes: true })
      .filter((e) => e.isDirectory() && !['node_modules', 'out', 'dist', 'test', 'bench', 'scripts', 'demo', 'bin'].includes(e.name) && !e.name.startsWith('.'))
      .filter((e) => tsFiles(e.name).length > 0)
      .map((e) => e.name);
    assert.deepEqual(folders.sort(), Object.keys(RULES).sort());
  });

  for (const [folder, rule] of Object.entries(RULES)) {
    test(`${folder}/ imports only ${rule.folders.join(', ')}${rule.packages.source === '^$' ? '' : ` and ${rule.packages.source}`}`, () => {
      const wrong: string[] = [];
      for (const file of tsFiles(folder)) {
        for (const spec of importsOf(file)) {
          if (spec.startsWith('.')) {
            const target = path.relative(ROOT, path.resolve(ROOT, path.dirname(file), spec)).split(path.sep)[0];
            if (!rule.folders.includes(target)) wrong.push(`${file} imports ${spec} (${target}/)`);
          } else if (!rule.packages.test(spec)) {
            wrong.push(`${file} imports the package ${spec}`);
          }
        }
      }
      assert.deepEqual(wrong, []);
    });
  }

  test('every file names its one concern in a first-line comment', () => {
    const unnamed = Object.keys(RULES).flatMap(tsFiles).filter((file) => !fs.readFileSync(path.join(ROOT, file), 'utf8').startsWith('// '));
    assert.deepEqual(unnamed, []);
  });
});
