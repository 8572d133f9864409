// status-paths: the time the kernel's ioctl and the /proc path each take to
// emit the status of the same targets, inside the patched kernel that
// scripts/test-kernel.sh boots, where kernel-init runs it after the checks.
// It prints the README's table ("The kernel path, built and booted").
//
//   status-paths     the table, on a kernel with PERF_EVENT_IOC_EMIT_SIDEBAND
//
// Built by `make -C native static` with kernel-check's target and its
// captures through the engine (native/tools/kernel_check/). Exits 1 only
// when a measure could not be taken.
#include <signal.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "../native/core/abi.h"
#include "../native/tools/kernel_check/engine_run.h"
#include "../native/tools/kernel_check/harness.h"
#include "../native/tools/kernel_check/target.h"

using namespace sideband;
using namespace sideband::kernel_check;

namespace {

// Both paths on the same targets, a few times each: the README's table.
void compare_paths() {
  const int maps = 200, threads = 8, rounds = 5;
  printf("comparison: %d threads + leader, about %d executable mappings, %d captures per path and target (median)\n",
         threads, maps, rounds);
  printf("| target | path | time to emit the status | records | stale marks |\n|---|---|--:|--:|--:|\n");
  for (const char* mode : {"many", "busy"}) {
    Target t({mode, std::to_string(maps), std::to_string(threads)});
    if (t.expect("ready").empty()) die("the comparison target did not start");
    for (bool kernel : {true, false}) {
      std::vector<uint64_t> times;
      std::vector<size_t> records, stale;
      StatusPath path = StatusPath::None;
      for (int i = 0; i < rounds; ++i) {
        auto run = capture(t.pid, kernel, 64, [] {});
        if (run->c.snapshots_.empty()) continue;
        const SnapshotInfo& s = run->c.snapshots_.front();
        times.push_back(s.end - s.start);
        records.push_back(s.records);
        // Race marks are set as records leave the engine, not in SnapshotInfo.
        size_t marked = 0;
        for (const Rec& r : run->recs) marked += r.type < 64 && r.status() && is_proc_id(r.s.id) && (r.s.id & kStaleMask);
        stale.push_back(marked);
        path = s.path;
      }
      auto median = [](auto v) {
        std::sort(v.begin(), v.end());
        return v.empty() ? decltype(v[0] + 0){} : v[v.size() / 2];
      };
      printf("| %s | %s | %.0f us | %zu | %zu |\n", !strcmp(mode, "busy") ? "threads renaming themselves" : "idle",
             status_path_name(path), median(times) / 1e3, median(records), median(stale));
    }
    t.send("quit");
  }
  fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) {
  if (is_target(argc, argv)) return run_target(argc, argv);
  if (argc >= 2) {
    fprintf(stderr, "usage: status-paths\n");
    return 2;
  }
  setvbuf(stdout, nullptr, _IOLBF, 0);
  signal(SIGPIPE, SIG_IGN);
  compare_paths();
  return 0;
}
