// Why the kernel refused to open a capture's event, as an Error that names
// the cause and its fix: a gone process, ptrace access, perf_event_paranoid,
// the open-file limit, a kernel without perf.
#pragma once

#include <sys/types.h>

namespace sideband {

// err is perf_event_open's errno for thread `tid` of process `target`.
[[noreturn]] void explain_open_error(int err, pid_t target, pid_t tid);

}  // namespace sideband
