// An event of our own, with its ring, for calling the ioctl on directly:
// the checks of PERF_EVENT_IOC_EMIT_SIDEBAND without the engine between.
#pragma once

#include <linux/perf_event.h>
#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "../../core/ring.h"

namespace sideband::kernel_check {

// The engine's own attr, not inherited, as its ioctl event has it: each of
// these events, like that one, is opened on one task.
perf_event_attr engine_attr();

// Opened as perf_event_open(attr, pid, cpu) with a ring of `pages` (none
// when 0); fd is -1, and errno says why, when the kernel refuses.
struct RawEvent {
  int fd = -1;
  std::unique_ptr<Ring> ring;
  RawEvent(perf_event_attr attr, pid_t pid, int cpu, size_t pages);
  ~RawEvent();
  // PERF_EVENT_IOC_EMIT_SIDEBAND for `pid`: 0, or the errno it failed with.
  int emit(pid_t pid, uint32_t flags);
  // Every record in the ring, taken out of it.
  std::vector<uint8_t> drain();
};

// The name of an errno the ioctl gives ("EINVAL"), for verdicts.
const char* err_name(int e);

}  // namespace sideband::kernel_check
