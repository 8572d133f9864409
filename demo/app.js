// A small program whose sideband is worth a look: it renames itself, starts
// a worker thread, and forks and execs children while it runs. Attach to it
// after "ready" and its earlier state arrives as status-only records.
'use strict';
const { execFile } = require('node:child_process');
const { Worker } = require('node:worker_threads');

const rounds = Number(process.argv[2] ?? 6);
process.title = 'sideband-demo'; // prctl(PR_SET_NAME): a COMM record
const worker = new Worker('setInterval(() => {}, 1000)', { eval: true });
console.log(`ready ${process.pid}`);

function step(i) {
  if (i === rounds) {
    worker.terminate();
    return;
  }
  process.title = `demo-step-${i}`;
  // fork + exec: FORK, COMM exec, MMAP2 of the new program, EXIT
  execFile('/bin/sh', ['-c', `echo step ${i} in pid $$`], (err, out) => {
    if (err) throw err;
    process.stdout.write(out);
    setTimeout(() => step(i + 1), 250);
  });
}
// Give an attaching capture time to take its status snapshot first.
process.stdin.once('data', () => {
  process.stdin.destroy(); // nothing more to read: let the program end
  step(0);
});
