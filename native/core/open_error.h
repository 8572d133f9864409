// Why the kernel refused to open a capture's event, as an Error that names
// the cause and its fix: a gone process, ptrace access, a container,
// perf_event_paranoid, the open-file limit, a kernel without perf.
#pragma once

#include <sys/types.h>

#include <string>

namespace sideband {

// err is perf_event_open's errno for thread `tid` of process `target`;
// `helper` is the capture helper's path, named in the fixes.
[[noreturn]] void explain_open_error(int err, pid_t target, pid_t tid, const std::string& helper);

// "Fix: ..." for what only privilege gives (perf past the sysctl, other
// users' processes, namespaces): elevated each time, or the helper alone
// given the capabilities once, never the editor or node.
std::string privilege_fix(const std::string& helper);
// The same remedies without "Fix: ", to follow another.
std::string privilege_remedies(const std::string& helper);

}  // namespace sideband
