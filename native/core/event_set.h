// The events of one capture and their rings: a dummy event per thread of
// the target and CPU, with the syscall tracepoints of region changes where
// they are allowed, each CPU's events writing into one ring, and the event
// the status ioctl is asked on, with a ring of its own. As libperf's evlist
// owns its evsels and mmaps.
#pragma once

#include <linux/perf_event.h>
#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "ring.h"
#include "tracepoints.h"

namespace sideband {

struct AttachInfo;
struct CaptureOptions;
class CaptureListener;

// The name perf gives a software dummy event that excludes kernel and hypervisor.
constexpr const char* kSidebandEventName = "dummy:u";

// The attr every event of a capture with these options starts from; each
// ring then sets its wake-up watermark, and the ioctl event is not inherited.
perf_event_attr capture_attr(const CaptureOptions& options);

class EventSet {
 public:
  explicit EventSet(CaptureListener& listener) : listener_(listener) {}
  EventSet(const EventSet&) = delete;
  EventSet& operator=(const EventSet&) = delete;

  // Opens the events of every thread of `target` on every online CPU, and
  // the ioctl event where the options ask for it. Rings shrink to fit the
  // locked-memory budget, and an attr the kernel refuses drops what it can
  // do without (NAMESPACES, the lost count, the tracepoints); each is said
  // as a warning.
  // Throws an Error that names the cause where nothing can be opened.
  void open(pid_t target, const CaptureOptions& options);

  // Calls visit(record, size, from_ioctl_ring) for every record waiting in
  // the rings, and fault(cpu, RingFault) where a ring held one that cannot
  // be (cpu -1: the ioctl event's ring).
  template <typename Visit, typename Fault>
  void drain(Visit&& visit, Fault&& fault);

  // How many records the events' own counts say they lost, the ioctl
  // event's too; none without events, or on a kernel that cannot count
  // them (before 6.0).
  std::optional<uint64_t> lost() const;

  // Asks PERF_EVENT_IOC_EMIT_SIDEBAND on the ioctl event: 0, or its errno.
  int emit_sideband(uint32_t tid, uint32_t emit_flags);
  bool has_ioctl_event() const { return ioctl_fd_ >= 0; }
  // The kernel lacks the ioctl: its event and ring go.
  void drop_ioctl_event();

  // Every event and ring goes, on every path: the target stops firing
  // inherited events, the locked-memory budget is free for the next capture,
  // and the host has its fds back at stop rather than at garbage collection.
  void release();

  bool opened() const { return !rings_.empty(); }
  std::vector<int> ring_fds() const;  // each CPU's
  pid_t target() const { return target_; }
  const perf_event_attr& attr() const { return attr_; }  // the sideband dummy's
  const std::vector<uint64_t>& ids() const { return ids_; }
  bool has_tracepoints() const { return !tracepoints_.empty(); }
  // What the listener is told of them once they are open.
  AttachInfo attach_info() const;

 private:
  int open_event(pid_t tid, int cpu);
  // Opens the tracepoints of (tid, cpu) into ring_fd; where the kernel
  // refuses them, they all go with one warning, and the capture goes on.
  void open_tracepoints(pid_t tid, int cpu, int ring_fd);
  void drop_tracepoints(const std::string& cause);
  void warn_no_tracepoints(const std::string& cause);
  void open_ioctl_event(size_t pages);

  // One tracepoint and its events, one per thread and CPU as the dummy's.
  struct TracepointEvents {
    Tracepoint tracepoint;
    perf_event_attr attr;
    std::vector<int> fds;
    std::vector<uint64_t> ids;
  };

  CaptureListener& listener_;
  pid_t target_ = 0;
  std::string helper_;  // the capture helper's path, for the fixes the errors print
  perf_event_attr attr_{};
  std::vector<int> cpus_;
  size_t ring_pages_ = 0;
  std::vector<int> event_fds_;
  std::vector<std::unique_ptr<Ring>> rings_;
  std::vector<int> ring_cpus_;  // the CPU of each ring
  int ioctl_fd_ = -1;
  std::unique_ptr<Ring> ioctl_ring_;
  std::vector<uint64_t> ids_;  // of event_fds_, as the kernel numbers them
  uint64_t ioctl_id_ = 0;
  std::vector<TracepointEvents> tracepoints_;
};

template <typename Visit, typename Fault>
void EventSet::drain(Visit&& visit, Fault&& fault) {
  for (size_t i = 0; i < rings_.size(); ++i)
    rings_[i]->drain([&](const uint8_t* rec, uint16_t size) { visit(rec, size, false); },
                     [&](const RingFault& f) { fault(ring_cpus_[i], f); });
  if (ioctl_ring_)
    ioctl_ring_->drain([&](const uint8_t* rec, uint16_t size) { visit(rec, size, true); },
                       [&](const RingFault& f) { fault(-1, f); });
}

}  // namespace sideband
