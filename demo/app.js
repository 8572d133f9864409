// A small program whose sideband is worth a look: it renames itself, starts
// a worker thread, loads a native addon built from this workspace's C
// sources (native/), and forks and execs children while it runs. Whatever
// it did before a capture attached arrives as status-only records (node's
// own mappings among them); what it does after, as real ones (the addon's
// MMAP2 among them, which maps back to native/*.c).
//
//   node app.js            steps every 250 ms until stopped, starting after
//                          1.5 s so a capture started by the debugger is
//                          attached by then (the demo workspace's F5)
//   node app.js N --wait   waits for a line on stdin, then takes N steps
//                          (scripts/demo.sh attaches in between)
'use strict';
const { execFile } = require('node:child_process');
const { Worker } = require('node:worker_threads');

const wait = process.argv.includes('--wait');
const rounds = Number(process.argv.find((a) => /^\d+$/.test(a)) ?? Infinity);
process.title = 'sideband-demo'; // prctl(PR_SET_NAME): a COMM record
const worker = new Worker('setInterval(() => {}, 1000)', { eval: true });
console.log(`ready ${process.pid}`);

// Loaded at the first step, after the capture has attached, so its mapping
// is a real record.
let addon;
function loadAddon() {
  try {
    return require('./native/build/demo_native.node');
  } catch (e) {
    console.error(`the demo addon is not built (${e.message}): run make -C demo/native; going on without it`);
    return { checksum: () => 0 };
  }
}

function step(i) {
  addon ??= loadAddon();
  if (i === rounds) {
    worker.terminate();
    return;
  }
  process.title = `demo-step-${i % 100}`;
  // fork + exec: FORK, COMM exec, MMAP2 of the new program and its libraries, EXIT
  execFile('/bin/sh', ['-c', `echo step ${i} in pid $$`], (err, out) => {
    if (err) throw err;
    process.stdout.write(`${out.trim()} (adler32 ${addon.checksum(Buffer.from(out)).toString(16)})\n`);
    setTimeout(() => step(i + 1), 250);
  });
}

if (wait) {
  process.stdin.once('data', () => {
    process.stdin.destroy(); // nothing more to read: let the program end
    step(0);
  });
} else {
  setTimeout(() => step(0), 1500);
}
