// A followed process's status, told as records: by the kernel's
// PERF_EVENT_IOC_EMIT_SIDEBAND where it works, else read from /proc
// (proc_status.h), whose records wait in the ordering queue for their
// read window to settle.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <vector>

#include "proc_status.h"

namespace sideband {

struct CaptureStats;
struct SnapshotInfo;
class CaptureListener;
class EventSet;
class OrderingQueue;

class StatusEmitter {
 public:
  // emit: the EmitFlag bits to tell. round: one round of the reader, which
  // drains the rings; whether the ioctl works is proved by its records
  // arriving there.
  StatusEmitter(uint32_t emit, EventSet& events, OrderingQueue& queue, CaptureStats& stats,
                CaptureListener& listener, std::function<void()> round);
  StatusEmitter(const StatusEmitter&) = delete;
  StatusEmitter& operator=(const StatusEmitter&) = delete;

  // Tells the status of `pid` and its threads, and adds to info what it did.
  // False where /proc found the process gone, or with nothing to tell.
  bool emit(pid_t pid, SnapshotInfo& info);

 private:
  // False when the /proc path must do the work for this pid.
  bool emit_by_ioctl(pid_t pid, SnapshotInfo& info);
  bool emit_from_proc(pid_t pid, SnapshotInfo& info);

  uint32_t emit_;
  EventSet& events_;
  OrderingQueue& queue_;
  CaptureStats& stats_;
  CaptureListener& listener_;
  std::function<void()> round_;
  bool ioctl_proven_ = false;  // its STATUS_ONLY records have arrived
  ProcStatusReader proc_;
  std::vector<uint8_t> scratch_;  // one process's /proc records
};

}  // namespace sideband
