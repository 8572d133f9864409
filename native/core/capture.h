// A sideband capture of one process tree, as front ends drive it: its
// options, what it tells its listener, and the reader thread that runs its
// parts. Plain C++: no Node, no VS Code.
//
// The parts, each the owner of what it names:
//   event_set.h       the events and their rings (capture_attr, open, drain, release)
//   launcher.h        a command the capture launches, from fork to its end
//   live_tasks.h      the processes and threads still followed
//   ordering_queue.h  records in timestamp order, in batches
//   losses.h          what the rings lost, counted and said
//   status_emitter.h  a process's status, by the ioctl or from /proc
//
// Where a record is...
//   read:     Ring::drain (ring.h), for every ring by EventSet::drain, each Capture::round
//   ordered:  OrderingQueue::flush (rounds, as perf's FINISHED_ROUND)
//   snapshot: Capture::snapshot -> StatusEmitter: the kernel's ioctl, or ProcStatusReader (proc_status.h)
//   written:  PerfFile::append (perf_file.h), the capture's perf.data, when it has one
//   sent:     CaptureListener::written, the file's new end; without a file,
//             CaptureListener::records, as batches in perf's own layout
#pragma once

#include <sys/types.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "errors.h"
#include "event_set.h"
#include "launcher.h"
#include "live_tasks.h"
#include "losses.h"
#include "ordering_queue.h"
#include "perf_file.h"
#include "status_emitter.h"

namespace sideband {

struct CaptureOptions {
  pid_t pid = 0;                      // attach to this process...
  std::vector<std::string> command;   // ...or launch this one and follow it from exec
  bool follow_children = true;        // inherit = 1
  size_t ring_pages = 512;            // per CPU, a power of two; shrunk to fit the mlock budget
  uint32_t emit = 0xf;                // EmitFlag bits for status snapshots
  bool try_ioctl = true;              // false forces the /proc path (for comparisons)
  bool region_tracepoints = true;     // the syscall tracepoints of munmap, mremap, mprotect, brk
  std::string output;                 // the perf.data the core writes; empty: records go to the listener
  int output_fd = -1;                 // output already open for writing (the helper opens the user's file); the core owns it
  std::string helper;                 // the capture helper's path, for the fixes the errors print
};

enum class StatusPath { None, Ioctl, Proc };
const char* status_path_name(StatusPath p);

struct EventInfo {
  std::string name;                   // as perf names it: "dummy:u", "syscalls:sys_enter_munmap"
  std::vector<uint8_t> attr;          // its perf_event_attr
  std::vector<uint64_t> ids;          // its kernel ids, one per thread and CPU (inherited events report these too)
};

struct AttachInfo {
  pid_t pid = 0;
  std::vector<EventInfo> events;      // the sideband dummy first, then the tracepoints in use
  uint64_t ioctl_id = 0;              // id of our own event that receives ioctl status, 0 if none
  std::vector<int> cpus;
  size_t ring_pages = 0;
  bool namespaces = false;
};

struct SnapshotInfo {
  uint32_t index = 0;
  StatusPath path = StatusPath::None;
  size_t processes = 0, records = 0, stale = 0, gone = 0;
  uint64_t start = 0, end = 0;
};

struct CaptureStats {
  uint64_t records = 0, status_records = 0, ioctl_records = 0, proc_records = 0;
  uint64_t lost = 0, lost_records = 0;
};

struct StopInfo {
  std::string reason;                 // "exited", "requested" or "failed"
  int exit_status = -1;               // of a launched command, as waitpid reports it
  CaptureStats stats;
};

// Called on the reader thread. Implementations hand data to their own thread.
class CaptureListener {
 public:
  virtual ~CaptureListener() = default;
  virtual void attached(const AttachInfo& info) = 0;
  // Of a capture without an output file: its records, in time order.
  virtual void records(std::vector<uint8_t>&& /*batch*/, const CaptureStats& /*stats*/) {}
  // Of a capture with one: the file's records now end at file offset
  // data_end. Said at most every few milliseconds, however fast they come.
  virtual void written(uint64_t /*data_end*/, const CaptureStats& /*stats*/) {}
  virtual void snapshot(const SnapshotInfo& info) = 0;
  virtual void warning(const std::string& code, const std::string& message) = 0;
  virtual void failed(const Error& error) = 0;
  virtual void stopped(const StopInfo& info) = 0;
};

class Capture {
 public:
  Capture(CaptureOptions options, CaptureListener* listener);
  ~Capture();
  Capture(const Capture&) = delete;
  Capture& operator=(const Capture&) = delete;

  void start();             // spawns the reader thread; everything else happens there
  void request_snapshot();  // the RFC's "as needed": another status snapshot
  // With force, a command the capture launched is killed at once rather
  // than given time to exit on SIGTERM.
  void request_stop(bool force = false);
  void join();

 private:
  void run();
  void wake();
  void attach();
  void snapshot(bool first);
  void round();  // drains every ring, and moves what has settled into the batch
  void ingest(const uint8_t* rec, uint16_t size, bool from_ioctl_ring);
  void send(bool now);  // to the file, or to the listener now or once the batch is large or old enough
  void tell_written(bool now);  // the file's new end, unless said less than kWrittenNs ago
  int poll_timeout_ms() const;
  void check_liveness();

  CaptureOptions options_;
  CaptureListener* listener_;
  std::thread thread_;
  std::mutex wake_mutex_;  // guards wake_fd_, which run() closes as it ends
  int wake_fd_ = -1;
  std::atomic<bool> stop_requested_{false};
  std::atomic<bool> force_stop_{false};
  std::atomic<int> snapshots_requested_{0};

  CaptureStats stats_;
  Launcher launcher_;
  LiveTasks tasks_;

  EventSet events_;
  OrderingQueue queue_;
  PerfFile file_;
  uint64_t told_end_ = 0, told_at_ = 0;
  Losses losses_;
  std::unique_ptr<StatusEmitter> status_;  // once the events are open
  uint32_t snapshot_index_ = 0;

  uint64_t last_liveness_ = 0;
};

}  // namespace sideband
