// Checks through the engine: the status it takes of a running target, by
// the path the kernel allows, against /proc and against the target's
// later real records.
#include <linux/perf_event.h>

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <set>
#include <string>
#include <vector>

#include "../../core/abi.h"
#include "checks.h"
#include "engine_run.h"
#include "harness.h"
#include "proc_oracle.h"
#include "records.h"
#include "target.h"

namespace sideband::kernel_check {

namespace {

// Status records of `o.pid` must say what /proc says: a verdict per kind.
void check_emitters(const char* origin, const std::vector<Rec>& status, const Oracle& o) {
  // FORK: one per thread; the leader's parent is its real parent, a
  // thread's is its own thread group.
  {
    std::vector<std::string> bad;
    std::set<pid_t> seen;
    for (const Rec& r : status) {
      if (r.type != PERF_RECORD_FORK) continue;
      const uint32_t pid = r.pid(), ppid = r.ppid(), tid = r.tid(), ptid = r.ptid();
      seen.insert(static_cast<pid_t>(tid));
      if (pid != static_cast<uint32_t>(o.pid)) bad.push_back("pid " + std::to_string(pid));
      if (tid == pid) {
        if (ppid != o.ppid || !thread_of(ppid, ptid))
          bad.push_back("leader ppid/ptid " + std::to_string(ppid) + "/" + std::to_string(ptid) + ", /proc ppid " +
                        std::to_string(o.ppid));
      } else if (ppid != pid || ptid != pid) {
        bad.push_back("thread " + std::to_string(tid) + " ppid/ptid " + std::to_string(ppid) + "/" + std::to_string(ptid));
      }
    }
    std::set<pid_t> want(o.tids.begin(), o.tids.end());
    if (seen != want) bad.push_back(std::to_string(seen.size()) + " threads have FORK, /proc lists " + std::to_string(want.size()));
    std::string name = std::string(origin) + " FORK matches /proc";
    verdict(bad.empty(), name.c_str(), "%zu threads, leader ppid %u%s%s", seen.size(), o.ppid, bad.empty() ? "" : "; ",
            join(bad).c_str());
  }
  // COMM, per thread, without COMM_EXEC.
  {
    std::vector<std::string> bad;
    size_t n = 0;
    for (const Rec& r : status) {
      if (r.type != PERF_RECORD_COMM) continue;
      ++n;
      const pid_t tid = static_cast<pid_t>(r.tid());
      auto it = o.comm.find(tid);
      if (it == o.comm.end() || it->second != r.str(16)) bad.push_back("tid " + std::to_string(tid) + " '" + r.str(16) + "'");
      if (r.misc & PERF_RECORD_MISC_COMM_EXEC) bad.push_back("COMM_EXEC set");
    }
    if (n != o.tids.size()) bad.push_back(std::to_string(n) + " COMM for " + std::to_string(o.tids.size()) + " threads");
    std::string name = std::string(origin) + " COMM matches /proc";
    verdict(bad.empty(), name.c_str(), "%zu records, leader '%s'%s%s", n, o.comm.at(o.pid).c_str(), bad.empty() ? "" : "; ",
            join(bad).c_str());
  }
  // NAMESPACES: dev and inode of every namespace, per thread.
  {
    std::vector<std::string> bad;
    size_t n = 0;
    for (const Rec& r : status) {
      if (r.type != PERF_RECORD_NAMESPACES) continue;
      ++n;
      const pid_t tid = static_cast<pid_t>(r.tid());
      const uint64_t count = r.u64(16);
      auto it = o.ns.find(tid);
      if (it == o.ns.end() || count != it->second.size()) {
        bad.push_back("tid " + std::to_string(tid) + " nr " + std::to_string(count));
        continue;
      }
      for (uint64_t i = 0; i < count; ++i) {
        const uint64_t dev = r.u64(24 + 16 * i), ino = r.u64(32 + 16 * i);
        if (dev != it->second[i].first || ino != it->second[i].second)
          bad.push_back(std::string(kNs[i]) + " " + std::to_string(dev) + ":" + std::to_string(ino) + " vs /proc " +
                        std::to_string(it->second[i].first) + ":" + std::to_string(it->second[i].second));
      }
    }
    if (n != o.tids.size()) bad.push_back(std::to_string(n) + " NAMESPACES for " + std::to_string(o.tids.size()) + " threads");
    const auto& uts = o.ns.at(o.pid)[1];
    std::string name = std::string(origin) + " NAMESPACES match /proc";
    verdict(bad.empty(), name.c_str(), "%zu records, uts %" PRIu64 ":%" PRIu64 "%s%s", n, uts.first, uts.second,
            bad.empty() ? "" : "; ", join(bad).c_str());
  }
  // MMAP2: every executable mapping, with /proc's range, offset, device,
  // inode, protection, sharing and name.
  {
    std::vector<std::string> bad;
    std::vector<MapLine> got;
    for (const Rec& r : status) {
      if (r.type != PERF_RECORD_MMAP2) continue;
      MapLine m{r.u64(16), r.u64(16) + r.u64(24), r.u64(32), r.u64(48), r.u32(40), r.u32(44), r.u32(64), r.u32(68), r.str(72)};
      if (r.misc & PERF_RECORD_MISC_MMAP_BUILD_ID) bad.push_back("unexpected build-id");
      got.push_back(m);
    }
    auto key = [](const MapLine& m) {
      char k[512];
      snprintf(k, sizeof k, "%" PRIx64 "-%" PRIx64 " off %" PRIx64 " %x:%x ino %" PRIu64 " prot %u flags %u %s", m.start,
               m.end, m.pgoff, m.maj, m.min, m.ino, m.prot, m.flags, m.name.c_str());
      return std::string(k);
    };
    std::multiset<std::string> a, b;
    for (auto& m : got) a.insert(key(m));
    for (auto& m : o.exec_maps) b.insert(key(m));
    for (auto& k : a)
      if (!b.count(k)) bad.push_back("record " + k + " not in /proc");
    for (auto& k : b)
      if (!a.count(k)) bad.push_back("/proc " + k + " has no record");
    bool before = false;
    for (auto& m : got) before |= m.name == kBefore && m.pgoff == 4096 && m.end - m.start == 2 * 4096;
    if (!before) bad.push_back(std::string("no MMAP2 of ") + kBefore + " at offset 4096");
    std::string name = std::string(origin) + " MMAP2 matches /proc/PID/maps";
    verdict(bad.empty(), name.c_str(), "%zu records, %zu executable mappings in /proc%s%s", got.size(), o.exec_maps.size(),
            bad.empty() ? "" : "; ", join(bad).c_str());
  }
}

}  // namespace

void check_capture(bool kernel) {
  const char* origin = kernel ? "ioctl" : "proc";
  Target t({"status"});
  std::string ready = t.expect("ready");
  if (ready.empty()) die("the status target did not start");
  const Oracle o = read_oracle(t.pid);
  std::string done;
  auto run = capture(t.pid, true, 64, [&] {
    t.send("go");
    done = t.expect("done");
  });
  Collector& c = run->c;
  if (!c.error_.empty() || run->c.snapshots_.empty()) {
    verdict(false, "engine capture", "error '%s', %zu snapshots, warnings: %s", c.error_.c_str(), c.snapshots_.size(),
            join(c.warnings_).c_str());
    return;
  }
  verdict(run->parsed, "engine records parse", "%zu records, %zu bytes%s%s", run->recs.size(), c.bytes_.size(),
          run->parsed ? "" : ": ", run->parse_error.c_str());
  const SnapshotInfo& snap = c.snapshots_.front();
  const StatusPath want = kernel ? StatusPath::Ioctl : StatusPath::Proc;
  verdict(snap.path == want, "snapshot path", "SnapshotInfo path=%s (want %s), ioctl_id=%" PRIu64 ", warnings: %s",
          status_path_name(snap.path), status_path_name(want), c.info_.ioctl_id,
          c.warnings_.empty() ? "none" : join(c.warnings_).c_str());

  std::vector<Rec> status;
  uint64_t last_status = 0;
  size_t wrong_id = 0;
  std::set<uint32_t> kinds;
  for (const Rec& r : run->recs) {
    if (r.type >= 64 || !r.status() || r.pid() != static_cast<uint32_t>(t.pid)) continue;
    // Only records of the path under test count for the checks below.
    const bool ok = kernel ? (r.s.id == c.info_.ioctl_id && c.info_.ioctl_id != 0 && !is_proc_id(r.s.id)) : is_proc_id(r.s.id);
    if (!ok) {
      ++wrong_id;
      continue;
    }
    status.push_back(r);
    kinds.insert(r.type);
    last_status = std::max(last_status, r.s.time);
  }
  const bool all_kinds = kinds == std::set<uint32_t>{PERF_RECORD_FORK, PERF_RECORD_COMM, PERF_RECORD_NAMESPACES, PERF_RECORD_MMAP2};
  const bool stats_ok = kernel ? c.stop_.stats.proc_records == 0 && c.stop_.stats.ioctl_records >= status.size()
                               : c.stop_.stats.ioctl_records == 0 && c.stop_.stats.proc_records >= status.size();
  {
    std::string name = std::string("status records have provenance ") + origin;
    verdict(!status.empty() && wrong_id == 0 && all_kinds && stats_ok, name.c_str(),
            "%zu status records of pid %d with it (FORK/NAMESPACES/COMM/MMAP2 %s), %zu with another id; engine counted ioctl=%" PRIu64
            " proc=%" PRIu64,
            status.size(), t.pid, all_kinds ? "all present" : "MISSING some", wrong_id, c.stop_.stats.ioctl_records,
            c.stop_.stats.proc_records);
  }
  if (kernel) {
    // One ring per CPU, as perf record has them: more than one here.
    verdict(c.info_.cpus.size() >= 2 && c.info_.events.front().ids.size() >= c.info_.cpus.size(), "per-CPU rings on every CPU",
            "%zu CPUs online, %zu events", c.info_.cpus.size(), c.info_.events.front().ids.size());
    // The kernel writes under its own locks: nothing to mark stale.
    size_t marked = 0;
    for (const Rec& r : run->recs) marked += r.type < 64 && r.status() && is_proc_id(r.s.id) && (r.s.id & kStaleMask);
    verdict(!status.empty() && wrong_id == 0 && snap.stale == 0 && marked == 0, "ioctl status carries no stale marks",
            "%zu ioctl status records, %zu marked stale in SnapshotInfo, %zu in the stream", status.size(), snap.stale,
            marked);
  }

  // Ordering: what the target did after attach arrives as real records,
  // stamped after every status record; the engine's stream is in time order.
  {
    pid_t child = 0;
    void* after_addr = nullptr;
    if (sscanf(done.c_str(), "done %d %p", &child, &after_addr) != 2) child = 0;
    uint64_t fork_t = 0, comm_t = 0, mmap_t = 0;
    for (const Rec& r : run->recs) {
      if (r.type >= 64 || r.status()) continue;
      if (r.type == PERF_RECORD_FORK && r.pid() == static_cast<uint32_t>(child) && r.ppid() == static_cast<uint32_t>(t.pid))
        fork_t = r.s.time;
      if (r.type == PERF_RECORD_COMM && r.pid() == static_cast<uint32_t>(t.pid) && r.str(16) == "sb-renamed") comm_t = r.s.time;
      if (r.type == PERF_RECORD_MMAP2 && r.pid() == static_cast<uint32_t>(t.pid) && r.str(72) == kAfter) mmap_t = r.s.time;
    }
    bool sorted = true;
    uint64_t prev = 0;
    for (const Rec& r : run->recs) {
      if (r.type >= 64) continue;
      if (r.s.time < prev) sorted = false;
      prev = r.s.time;
    }
    const bool found = fork_t && comm_t && mmap_t;
    const bool later = found && !status.empty() && fork_t > last_status && comm_t > last_status && mmap_t > last_status;
    std::string name = std::string(origin) + " status ordered before later real records";
    verdict(found && later && sorted, name.c_str(),
            "last status %" PRIu64 ", real FORK %+" PRId64 " ns, COMM %+" PRId64 " ns, MMAP2 %+" PRId64
            " ns after it%s; stream %s",
            last_status, found ? static_cast<int64_t>(fork_t - last_status) : 0,
            found ? static_cast<int64_t>(comm_t - last_status) : 0, found ? static_cast<int64_t>(mmap_t - last_status) : 0,
            found ? "" : " (a real record is MISSING)", sorted ? "in time order" : "OUT OF ORDER");
  }
  check_emitters(origin, status, o);
  t.send("quit");
}

}  // namespace sideband::kernel_check
