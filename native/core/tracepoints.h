// The syscall tracepoints that tell where a region ends (perf has no record
// for munmap, mremap, mprotect or brk): their names as perf gives them,
// their ids from tracefs, and the attr each is opened with.
#pragma once

#include <linux/perf_event.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace sideband {

struct Tracepoint {
  std::string name;  // "syscalls:sys_enter_munmap", as perf names it
  uint64_t id = 0;   // its tracefs id: the attr's config
};

// The eight tracepoints, in the order they are opened and listed: each
// sys_enter_* with its sys_exit_* (the result: a failed call changes nothing).
// On failure returns none and says why in `why`, naming the path and errno.
std::vector<Tracepoint> region_tracepoints(std::string& why);

// The tracefs files perf needs to print these tracepoints' samples, as
// (path under the tracefs root, contents): events/header_page,
// events/header_event, and events/SYSTEM/EVENT/format of each name. For the
// helper, which can read them for a front end that may not. Empty when
// tracefs cannot be read.
std::vector<std::pair<std::string, std::string>> tracepoint_formats(const std::vector<std::string>& names);

// The attr of one tracepoint: a sample per hit with the raw fields, the
// sideband's sample_id trailer and clock, inherited as `sideband` is.
perf_event_attr tracepoint_attr(const Tracepoint& tp, const perf_event_attr& sideband);

}  // namespace sideband
