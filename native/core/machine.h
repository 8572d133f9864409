// What this machine allows and has, as /proc and /sys tell: a setting's
// number, a capability of this process, the online CPUs.
#pragma once

#include <vector>

namespace sideband {

// The number in a file such as a sysctl's, or fallback if it cannot be read.
long read_long(const char* path, long fallback);

// Whether this process holds the capability in its effective set.
bool has_capability(int cap);

// The CPUs online now, each with a ring of its own.
std::vector<int> online_cpus();

}  // namespace sideband
