// The events of one capture and their rings: opened, drained, released.
#include "event_set.h"

#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string>

#include "abi.h"
#include "capture.h"
#include "errors.h"
#include "live_tasks.h"
#include "machine.h"
#include "open_error.h"

namespace sideband {

perf_event_attr capture_attr(const CaptureOptions& options) {
  perf_event_attr attr{};
  attr.size = sizeof attr;
  attr.type = PERF_TYPE_SOFTWARE;
  attr.config = PERF_COUNT_SW_DUMMY;
  attr.sample_type = kSampleType;
  attr.sample_id_all = 1;
  attr.comm = attr.comm_exec = 1;
  attr.mmap = attr.mmap2 = 1;
  attr.task = 1;
  attr.namespaces = (options.emit & kEmitNamespaces) ? 1 : 0;
  attr.inherit = options.follow_children ? 1 : 0;
  attr.use_clockid = 1;
  attr.clockid = CLOCK_MONOTONIC;
  // Unprivileged users at paranoid 2 may only watch user space.
  attr.exclude_kernel = attr.exclude_hv = 1;
  // The kernel writes a LOST record only once a ring has room again; this
  // count (Linux 6.0+) also tells of losses it never got to report.
  attr.read_format = PERF_FORMAT_LOST;
  attr.watermark = 1;
  return attr;
}

void EventSet::open(pid_t target, const CaptureOptions& options) {
  target_ = target;
  helper_ = options.helper;
  attr_ = capture_attr(options);
  std::string refused;
  if (options.region_tracepoints) {
    for (const Tracepoint& tp : region_tracepoints(refused))
      tracepoints_.push_back({tp, tracepoint_attr(tp, attr_), {}, {}});
    if (!refused.empty()) warn_no_tracepoints(refused);
  }
  const std::vector<int> cpus = online_cpus();
  size_t pages = options.ring_pages;
  if (pages == 0 || (pages & (pages - 1)) != 0)
    throw Error("EINVAL", "ring size must be a power of two pages, not " + std::to_string(pages) +
                              ". Fix: pass e.g. --ring-pages 512.");
  for (;;) {
    // Wake the reader at a ring's first record, not at half the ring as
    // perf does: a debuggee's trickle of records is then read at once. A
    // storm costs no more wake-ups than perf's, as it finds the reader
    // awake: the kernel wakes only a reader that sleeps in poll.
    attr_.wakeup_watermark = 1;
    try {
      const std::vector<pid_t> tids = threads_of(target_);
      for (int cpu : cpus) {
        int ring_fd = -1;
        for (pid_t tid : tids) {
          int fd = open_event(tid, cpu);
          if (fd < 0) continue;
          event_fds_.push_back(fd);
          if (ring_fd < 0) {
            rings_.push_back(std::make_unique<Ring>(fd, pages));
            ring_cpus_.push_back(cpu);
            ring_fd = fd;
          } else if (ioctl(fd, PERF_EVENT_IOC_SET_OUTPUT, ring_fd) != 0) {
            throw SystemError("PERF_EVENT_IOC_SET_OUTPUT", errno);
          }
          open_tracepoints(tid, cpu, ring_fd);
        }
      }
      if (event_fds_.empty()) explain_open_error(ESRCH, target_, target_, helper_);
      if (options.try_ioctl) open_ioctl_event(pages);
      break;
    } catch (const SystemError& e) {
      release();
      const bool budget = e.err() == EPERM || e.err() == ENOMEM;
      if (!budget) throw Error("ESYS", std::string(e.what()) + ".");
      if (pages == 1)
        throw Error("EMLOCK", "cannot map even one-page perf rings: the locked-memory budget is used up "
                              "(kernel.perf_event_mlock_kb is " +
                                  std::to_string(read_long("/proc/sys/kernel/perf_event_mlock_kb", 516)) +
                                  ", shared by every perf user of this account). Fix: close other perf sessions, or "
                                  "`sudo sysctl kernel.perf_event_mlock_kb=2048`.");
      pages /= 2;
    }
  }
  if (pages != options.ring_pages)
    listener_.warning("ERINGSHRUNK",
                      "rings shrunk from " + std::to_string(options.ring_pages) + " to " + std::to_string(pages) +
                          " pages per CPU to fit the locked-memory budget (kernel.perf_event_mlock_kb is " +
                          std::to_string(read_long("/proc/sys/kernel/perf_event_mlock_kb", 516)) +
                          "); bursts may now lose records. Fix: `sudo sysctl kernel.perf_event_mlock_kb=2048`, or "
                          "capture with CAP_IPC_LOCK.");
  ring_pages_ = pages;
  cpus_ = cpus;
  for (int fd : event_fds_) {
    uint64_t id = 0;
    if (ioctl(fd, PERF_EVENT_IOC_ID, &id) == 0) ids_.push_back(id);
  }
  for (TracepointEvents& tp : tracepoints_)
    for (int fd : tp.fds) {
      uint64_t id = 0;
      if (ioctl(fd, PERF_EVENT_IOC_ID, &id) == 0) tp.ids.push_back(id);
    }
  if (ioctl_fd_ >= 0 && ioctl(ioctl_fd_, PERF_EVENT_IOC_ID, &ioctl_id_) != 0) ioctl_id_ = 0;
}

// The RFC's limitation: the ioctl only works on an event active in the
// caller's own context. This one watches the reader thread itself (pid 0,
// cpu -1); its ring carries the kernel's status records, merged by time.
void EventSet::open_ioctl_event(size_t pages) {
  perf_event_attr attr = attr_;
  attr.inherit = 0;
  ioctl_fd_ = static_cast<int>(syscall(SYS_perf_event_open, &attr, 0, -1, -1, PERF_FLAG_FD_CLOEXEC));
  if (ioctl_fd_ < 0) return;
  ioctl_ring_ = std::make_unique<Ring>(ioctl_fd_, pages);
}

int EventSet::open_event(pid_t tid, int cpu) {
  bool without_namespaces = false;
  for (;;) {
    int fd = static_cast<int>(syscall(SYS_perf_event_open, &attr_, tid, cpu, -1, PERF_FLAG_FD_CLOEXEC));
    // NAMESPACES records need CAP_PERFMON: degrade, and say so once the
    // event opens without them (else they were not what was refused).
    if (fd >= 0 && without_namespaces)
      listener_.warning("ENAMESPACES",
                        "namespace records are off: they need CAP_PERFMON (or CAP_SYS_ADMIN). " + privilege_fix(helper_));
    if (fd >= 0) return fd;
    int err = errno;
    if ((err == EACCES || err == EPERM) && attr_.namespaces) {
      attr_.namespaces = 0;
      without_namespaces = true;
      continue;
    }
    // That thread has exited (or is an exited leader whose threads run on):
    // the process is gone only if none of its threads can be opened.
    if (err == ESRCH) return -1;
    if (err == EINVAL && attr_.read_format & PERF_FORMAT_LOST) {
      attr_.read_format &= ~static_cast<uint64_t>(PERF_FORMAT_LOST);  // a kernel before 6.0
      continue;
    }
    explain_open_error(err, target_, tid, helper_);
  }
}

void EventSet::open_tracepoints(pid_t tid, int cpu, int ring_fd) {
  for (TracepointEvents& tp : tracepoints_) {
    // The lost count as the sideband event has it: open_event drops it on kernels before 6.0.
    tp.attr.read_format = attr_.read_format;
    const int fd = static_cast<int>(syscall(SYS_perf_event_open, &tp.attr, tid, cpu, -1, PERF_FLAG_FD_CLOEXEC));
    if (fd < 0) {
      const int err = errno;
      if (err == ESRCH) return;  // the thread exited since its dummy opened
      drop_tracepoints("cannot open the tracepoint " + tp.tracepoint.name + " (" + strerror(err) + ")");
      return;
    }
    tp.fds.push_back(fd);
    if (ioctl(fd, PERF_EVENT_IOC_SET_OUTPUT, ring_fd) != 0) throw SystemError("PERF_EVENT_IOC_SET_OUTPUT", errno);
  }
}

void EventSet::drop_tracepoints(const std::string& cause) {
  for (TracepointEvents& tp : tracepoints_)
    for (int fd : tp.fds) close(fd);
  tracepoints_.clear();
  warn_no_tracepoints(cause);
}

void EventSet::warn_no_tracepoints(const std::string& cause) {
  listener_.warning("no-region-tracepoints",
                    cause +
                        ": region ends will be found by status snapshots only. Fix: run as root, or give the "
                        "capturing user CAP_PERFMON (or set kernel.perf_event_paranoid to 1 or less) and read "
                        "access to tracefs.");
}

int EventSet::emit_sideband(uint32_t tid, uint32_t emit_flags) {
  PerfEventPidSb sb{tid, emit_flags};
  return ioctl(ioctl_fd_, kIocEmitSideband, &sb) == 0 ? 0 : errno;
}

void EventSet::drop_ioctl_event() {
  ioctl_ring_.reset();
  close(ioctl_fd_);
  ioctl_fd_ = -1;
}

std::optional<uint64_t> EventSet::lost() const {
  if (!(attr_.read_format & PERF_FORMAT_LOST) || event_fds_.empty()) return std::nullopt;
  uint64_t counted = 0;
  std::vector<int> fds = event_fds_;
  if (ioctl_fd_ >= 0) fds.push_back(ioctl_fd_);  // status bursts overflow there
  // The kernel counts a loss on the event whose record found no room.
  for (const TracepointEvents& tp : tracepoints_) fds.insert(fds.end(), tp.fds.begin(), tp.fds.end());
  for (int fd : fds) {
    uint64_t value[2];
    if (read(fd, value, sizeof value) == static_cast<ssize_t>(sizeof value)) counted += value[1];
  }
  return counted;
}

void EventSet::release() {
  rings_.clear();
  ring_cpus_.clear();
  ioctl_ring_.reset();
  for (int fd : event_fds_) close(fd);
  event_fds_.clear();
  for (TracepointEvents& tp : tracepoints_) {
    for (int fd : tp.fds) close(fd);
    tp.fds.clear();
    tp.ids.clear();
  }
  if (ioctl_fd_ >= 0) close(ioctl_fd_);
  ioctl_fd_ = -1;
}

std::vector<int> EventSet::ring_fds() const {
  std::vector<int> fds;
  for (auto& r : rings_) fds.push_back(r->fd());
  return fds;
}

AttachInfo EventSet::attach_info() const {
  AttachInfo info;
  info.pid = target_;
  auto bytes = [](const perf_event_attr& a) {
    return std::vector<uint8_t>(reinterpret_cast<const uint8_t*>(&a), reinterpret_cast<const uint8_t*>(&a) + sizeof a);
  };
  info.events.push_back({kSidebandEventName, bytes(attr_), ids_});
  for (const TracepointEvents& tp : tracepoints_) info.events.push_back({tp.tracepoint.name, bytes(tp.attr), tp.ids});
  info.ioctl_id = ioctl_id_;
  info.cpus = cpus_;
  info.ring_pages = ring_pages_;
  info.namespaces = attr_.namespaces;
  return info;
}

}  // namespace sideband
