// Emulation of PERF_EVENT_IOC_EMIT_SIDEBAND from /proc, for kernels without it.
//
// It writes the records the ioctl would: per thread FORK, NAMESPACES and COMM,
// per process MMAP2 of its executable mappings, each flagged STATUS_ONLY and
// stamped on CLOCK_MONOTONIC (the capture's perf clock) just before the read
// that produced it. /proc races with the kernel, so every process is read
// inside a window [start, end] that the caller checks against real records.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace sideband {

uint64_t monotonic_ns();

// The kernel's NR_NAMESPACES: net, uts, ipc, pid, user, mnt, cgroup.
constexpr uint64_t kNamespaceCount = 7;

// What one process's read produced: records [begin, end) of the output.
struct ProcWindow {
  uint32_t pid = 0;
  uint64_t start = 0, end = 0;
  size_t begin = 0, end_offset = 0;
  size_t records = 0;
  uint64_t stale = 0;  // StaleReason bits already known from the scan itself
  bool gone = false;   // the process had exited before anything was read
};

enum class NamespaceRead { Ok, Denied, Gone };

class ProcStatusReader {
 public:
  // procmap_query false reads the maps text even where the kernel has
  // PROCMAP_QUERY, as on kernels before 6.11 (to compare the two);
  // proc_root is where procfs is mounted (another pid namespace has its own).
  explicit ProcStatusReader(uint32_t emit_flags, bool procmap_query = true, std::string proc_root = "/proc");

  // Appends the status of `pid` and all its threads to `out`.
  ProcWindow read_process(uint32_t pid, std::vector<uint8_t>& out);

  // Whether maps come from PROCMAP_QUERY (Linux 6.11+) or from text.
  bool uses_procmap_query() const { return procmap_query_; }

 private:
  // Reads into links the namespaces whose bits are set in `which` (bit 0
  // net, then the kernel's order above), from the links in ns_dir under `at`.
  NamespaceRead read_namespaces(int at, const char* ns_dir, unsigned which, uint64_t (*links)[2]);
  void emit_thread(uint32_t pid, uint32_t tid, uint32_t ppid, const char* comm, size_t comm_len,
                   const uint64_t (*links)[2], uint64_t time, std::vector<uint8_t>& out, size_t& records);
  size_t read_maps_query(int maps_fd, uint32_t pid, uint64_t time, std::vector<uint8_t>& out);
  // Reads the maps text whole into text_, for append_maps_text.
  size_t read_maps_text(int maps_fd, uint32_t pid, uint64_t time, std::vector<uint8_t>& out);

  uint32_t emit_flags_;
  uint32_t cpu_;
  bool procmap_query_;
  std::string proc_root_;
  std::vector<char> text_;
  uint64_t nsfs_dev_ = 0;
  uint64_t kthread_links_[kNamespaceCount][2] = {};
  bool kthread_links_valid_ = false;
};

// What one read of /proc/PID/stat says (proc(5)); comm points into the text read.
struct ProcStat {
  const char* comm;
  size_t comm_len;
  char state;
  uint32_t ppid;
  unsigned long flags;
  long threads;
  unsigned long long start_time;  // since boot, in clock ticks: with the pid, names one process
};

// Parses "pid (comm) S ppid pgrp session tty tpgid flags ... num_threads
// itrealvalue starttime ..." from s[0, len), where s[len] is 0. False when
// the text has no "(comm) S" in it; a field cut short reads as 0.
bool parse_stat(const char* s, size_t len, ProcStat& out);

// Appends an MMAP2 status record for each executable mapping a
// /proc/PID/maps text names, and returns how many. text[0, len) is the
// text, text[len] is 0; its lines are cut and names decoded in place.
size_t append_maps_text(char* text, size_t len, uint32_t pid, uint64_t time, uint32_t cpu, std::vector<uint8_t>& out);

// Appends one status-only record of each kind. Shared with tests of the layout.
void append_fork(std::vector<uint8_t>& out, uint32_t pid, uint32_t ppid, uint32_t tid, uint32_t ptid,
                 uint64_t time, uint32_t cpu);
void append_comm(std::vector<uint8_t>& out, uint32_t pid, uint32_t tid, const char* comm, size_t len,
                 uint64_t time, uint32_t cpu);
void append_namespaces(std::vector<uint8_t>& out, uint32_t pid, uint32_t tid, const uint64_t (*links)[2],
                       uint64_t count, uint64_t time, uint32_t cpu);
struct Mapping {
  uint64_t start, end, pgoff, ino;
  uint32_t maj, min, prot, flags;
  const char* name;
  size_t name_len;
};
void append_mmap2(std::vector<uint8_t>& out, uint32_t pid, uint32_t tid, const Mapping& m, uint64_t time,
                  uint32_t cpu);

}  // namespace sideband
