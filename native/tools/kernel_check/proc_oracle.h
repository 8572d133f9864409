// The /proc oracle: what /proc says of a process, read here independently
// of the engine's own /proc emulation (native/core/proc_status.cc), so its
// records are checked against a second reading rather than against itself.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace sideband::kernel_check {

// The namespaces of NAMESPACES records, in the kernel's order.
constexpr const char* kNs[] = {"net", "uts", "ipc", "pid", "user", "mnt", "cgroup"};

struct MapLine {
  uint64_t start, end, pgoff, ino;
  uint32_t maj, min, prot, flags;
  std::string name;
};

// The lines of /proc/PID/maps, named as MMAP2 records name them; with
// `exec_only`, the executable ones, which status MMAP2 records describe.
std::vector<MapLine> proc_maps(pid_t pid, bool exec_only);

// What the status records of `pid` must say.
struct Oracle {
  pid_t pid;
  std::vector<pid_t> tids;
  uint32_t ppid;
  std::map<pid_t, std::string> comm;
  std::map<pid_t, std::vector<std::pair<uint64_t, uint64_t>>> ns;
  std::vector<MapLine> exec_maps, all_maps;
};

Oracle read_oracle(pid_t pid);

// Whether `tid` is a thread of `pid`.
bool thread_of(uint32_t pid, uint32_t tid);

// A whole file, or "" when it cannot be read.
std::string read_text(const std::string& path);

}  // namespace sideband::kernel_check
