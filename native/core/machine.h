// What this machine allows and has, as /proc and /sys tell: a setting's
// number, a capability of this process, its seccomp filter, whether it runs
// in a container, the online CPUs.
#pragma once

#include <string>
#include <vector>

namespace sideband {

// The number in a file such as a sysctl's, or fallback if it cannot be read.
long read_long(const char* path, long fallback);

// Whether this process holds the capability in its effective set.
bool has_capability(int cap);

// Whether a seccomp filter (mode 2) constrains this process's system calls.
bool under_seccomp_filter();

// What shows this process runs in a container: the marker file its runtime
// left (/.dockerenv, /run/.containerenv), or a runtime's name in
// /proc/1/cgroup, as the words to name it by; empty when nothing does.
std::string container_evidence();

// The CPUs online now, each with a ring of its own.
std::vector<int> online_cpus();

}  // namespace sideband
