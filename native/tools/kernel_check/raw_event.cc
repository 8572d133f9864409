// Events of our own and the ioctl on them.
#include "raw_event.h"

#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "../../core/abi.h"
#include "../../core/capture.h"
#include "harness.h"

namespace sideband::kernel_check {

perf_event_attr engine_attr() {
  CaptureOptions options;
  options.follow_children = false;
  return capture_attr(options);
}

RawEvent::RawEvent(perf_event_attr attr, pid_t pid, int cpu, size_t pages) {
  fd = static_cast<int>(syscall(SYS_perf_event_open, &attr, pid, cpu, -1, PERF_FLAG_FD_CLOEXEC));
  if (fd < 0) return;
  if (pages) ring = std::make_unique<Ring>(fd, pages);
}

RawEvent::~RawEvent() {
  ring.reset();
  if (fd >= 0) close(fd);
}

int RawEvent::emit(pid_t pid, uint32_t flags) {
  PerfEventPidSb sb{static_cast<uint32_t>(pid), flags};
  return ioctl(fd, kIocEmitSideband, &sb) == 0 ? 0 : errno;
}

std::vector<uint8_t> RawEvent::drain() {
  std::vector<uint8_t> out;
  if (ring)
    ring->drain([&](const uint8_t* r, uint16_t n) { out.insert(out.end(), r, r + n); },
                [](const RingFault& f) {
                  verdict(false, "ring", "a record at byte %llu claims %u bytes; %llu bytes dropped",
                          static_cast<unsigned long long>(f.offset), f.size,
                          static_cast<unsigned long long>(f.dropped));
                });
  return out;
}

const char* err_name(int e) {
  switch (e) {
    case 0: return "success";
    case EINVAL: return "EINVAL";
    case ESRCH: return "ESRCH";
    case EACCES: return "EACCES";
    case EBUSY: return "EBUSY";
    case ENOTTY: return "ENOTTY";
    case EPERM: return "EPERM";
  }
  return strerror(e);
}

}  // namespace sideband::kernel_check
