#!/usr/bin/env bash
# Every fuzzer for SECONDS each (npm run fuzz -- SECONDS; 60 unless told):
# the libFuzzer targets of native/fuzz, then the perf.data and ELF readers'
# properties (test/fuzz/). Each target's corpus grows in
# native/build/fuzz/corpus-TARGET, started from the committed one; a crash
# leaves its input in native/build/fuzz/crashes/ and fails the run.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
SECONDS_EACH="${1:-60}"
npm run -s build:ts
make -s -j2 -C native/fuzz
OUT=native/build/fuzz
mkdir -p "$OUT/crashes"
failed=()
for target in ring proc_stat proc_maps symbols; do
  mkdir -p "$OUT/corpus-$target"
  echo "== $target, $SECONDS_EACH s"
  rc=0
  "$OUT/$target" -max_total_time="$SECONDS_EACH" -artifact_prefix="$OUT/crashes/$target-" \
    "$OUT/corpus-$target" "native/fuzz/corpus/$target" > "$OUT/$target.log" 2>&1 || rc=$?
  grep -E '^(Done |==[0-9]+==ERROR|SUMMARY|Test unit written)' "$OUT/$target.log" || true
  if [ "$rc" -ne 0 ]; then
    failed+=("$target")
    tail -40 "$OUT/$target.log"
  fi
done
for reader in perfdataReader elfReader; do
  echo "== $reader, $SECONDS_EACH s"
  # A hang is caught by this bound; the input it hung on is $OUT/$reader/case.data.
  timeout $((SECONDS_EACH * 2 + 120)) node "out/test/fuzz/$reader.js" --seconds "$SECONDS_EACH" --work "$OUT/$reader" || failed+=("$reader")
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "failed: ${failed[*]} (inputs in $OUT/crashes/, $OUT/perfdataReader/ and $OUT/elfReader/)" >&2
  exit 1
fi
