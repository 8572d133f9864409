#!/usr/bin/env bash
# The main job on the bundled demo: attach to a running program, so its
# earlier state comes as status-only records and what it does next as real
# ones, then show both. The README's demo command.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
out=${1:-demo/demo.data}

rm -f demo/capture.log
coproc DEMO { node demo/app.js 6 --wait; }
read -r ready pid <&"${DEMO[0]}"
[ "$ready" = ready ] || { echo "demo: the demo program did not start" >&2; exit 1; }
node bin/sideband.js capture --pid "$pid" -o "$out" 2> >(tee demo/capture.log >&2) &
capture=$!
until grep -q attached demo/capture.log 2>/dev/null; do sleep 0.1; done
echo go >&"${DEMO[1]}"
cat <&"${DEMO[0]}" >/dev/null || true
wait "$capture"

echo
echo "== status-only: the demo's state from before the attach (first lines) =="
# awk reads to the end: no reader that quits early, no SIGPIPE under pipefail.
node bin/sideband.js dump "$out" | awk '/\[status/ && !/ (MMAP2|NAMESPACES) / && n++ < 6'
echo
echo "== real: what it did after the attach, on the same clock (first lines) =="
node bin/sideband.js dump "$out" | awk '!/\[status/ && !/FINISHED_INIT/ && n++ < 10'
echo
echo "== counts by record type, status-only versus real =="
node bin/sideband.js dump --json "$out" | node -e '
  const counts = {};
  require("node:readline").createInterface({ input: process.stdin }).on("line", (l) => {
    const r = JSON.parse(l);
    const k = `${r.type}${r.statusOnly ? ` (status-only, ${r.provenance})` : ""}`;
    counts[k] = (counts[k] ?? 0) + 1;
  }).on("close", () => console.table(counts));'
echo "The whole capture: node bin/sideband.js dump $out   (perf reads it too: perf script -i $out --show-task-events --show-mmap-events)"
