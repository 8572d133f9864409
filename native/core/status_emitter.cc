// A followed process's status, by the kernel's ioctl where it works, else from /proc.
#include "status_emitter.h"

#include <cerrno>
#include <cstring>
#include <string>
#include <utility>

#include "abi.h"
#include "capture.h"
#include "event_set.h"
#include "live_tasks.h"
#include "ordering_queue.h"

namespace sideband {

StatusEmitter::StatusEmitter(uint32_t emit, EventSet& events, OrderingQueue& queue, CaptureStats& stats,
                             CaptureListener& listener, std::function<void()> round)
    : emit_(emit),
      events_(events),
      queue_(queue),
      stats_(stats),
      listener_(listener),
      round_(std::move(round)),
      proc_(emit) {}

bool StatusEmitter::emit(pid_t pid, SnapshotInfo& info) {
  return emit_by_ioctl(pid, info) || emit_from_proc(pid, info);
}

bool StatusEmitter::emit_by_ioctl(pid_t pid, SnapshotInfo& info) {
  // No ioctl event (not asked for, refused, or dropped below): /proc does it all.
  if (!events_.has_ioctl_event()) return false;
  const std::vector<pid_t> tids = threads_of(pid);
  for (pid_t tid : tids) {
    // As the /proc path: per thread what was asked of FORK, NAMESPACES and
    // COMM, and the process's mappings once, with its leader.
    uint32_t flags = emit_ & (kEmitFork | kEmitNamespaces | kEmitComm);
    if (tid == pid) flags |= emit_ & kEmitMmap;
    if (flags == 0) continue;
    if (const int err = events_.emit_sideband(static_cast<uint32_t>(tid), flags)) {
      if (!ioctl_proven_ && (err == ENOTTY || err == EINVAL)) {
        // The kernel lacks the ioctl: its event and ring go, and /proc takes
        // over for the rest of the capture.
        events_.drop_ioctl_event();
        return false;
      }
      if (err == ESRCH) continue;  // that thread exited: it has no status left to tell
      throw Error("EIOCTL", std::string("PERF_EVENT_IOC_EMIT_SIDEBAND failed: ") + strerror(err) +
                                ". Fix: capture with --no-ioctl to use the /proc path.");
    }
    if (!ioctl_proven_) {
      // Other unmerged series claimed the same number: success alone proves
      // nothing until STATUS_ONLY records actually arrive.
      const uint64_t before = stats_.ioctl_records;
      round_();
      if (stats_.ioctl_records == before) {
        events_.drop_ioctl_event();
        listener_.warning("EIOCTLCLAIMED",
                          "the kernel accepted ioctl 0x4008240C but sent no STATUS_ONLY records (another patch "
                          "may use that number); status comes from /proc instead.");
        return false;
      }
      ioctl_proven_ = true;
    }
  }
  info.path = StatusPath::Ioctl;
  return true;
}

bool StatusEmitter::emit_from_proc(pid_t pid, SnapshotInfo& info) {
  scratch_.clear();
  ProcWindow w = proc_.read_process(static_cast<uint32_t>(pid), scratch_);
  if (info.path == StatusPath::None) info.path = StatusPath::Proc;
  if (w.gone) {
    ++info.gone;
    return false;
  }
  if (w.records == 0) return false;
  queue_.push_window(w, scratch_);
  info.records += w.records;
  info.stale += w.stale ? w.records : 0;
  stats_.proc_records += w.records;
  stats_.status_records += w.records;
  return true;
}

}  // namespace sideband
