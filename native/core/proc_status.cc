#include "proc_status.h"

#include <dirent.h>
#include <fcntl.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "abi.h"

namespace sideband {

uint64_t monotonic_ns() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<uint64_t>(ts.tv_nsec);
}

namespace {

constexpr size_t align8(size_t n) { return (n + 7) & ~size_t{7}; }

// Grows `out` by one record of `body` bytes and returns a pointer to the body.
uint8_t* begin_record(std::vector<uint8_t>& out, uint32_t type, uint16_t misc, size_t body) {
  const size_t size = sizeof(perf_event_header) + body + kTrailerSize;
  const size_t at = out.size();
  out.resize(at + size);
  perf_event_header h{type, misc, static_cast<uint16_t>(size)};
  memcpy(out.data() + at, &h, sizeof h);
  return out.data() + at + sizeof h;
}

void put_trailer(uint8_t* trailer, uint32_t pid, uint32_t tid, uint64_t time, uint32_t cpu) {
  SampleId s{pid, tid, time, cpu, 0, kProcIdBase};
  memcpy(trailer, &s, sizeof s);
}

template <typename T>
uint8_t* put(uint8_t* p, T v) {
  memcpy(p, &v, sizeof v);
  return p + sizeof v;
}

// Reads a small /proc file relative to `dir` into buf; returns its length or -errno.
ssize_t read_small(int dir, const char* name, char* buf, size_t cap) {
  int fd = openat(dir, name, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -errno;
  ssize_t n = read(fd, buf, cap - 1);
  int err = errno;
  close(fd);
  if (n < 0) return -err;
  buf[n] = 0;
  return n;
}

// Parses "pid (comm) S ppid ..." where comm may hold spaces and parentheses.
bool parse_stat(const char* s, size_t len, const char** comm, size_t* comm_len, char* state, uint32_t* ppid) {
  const char* open = static_cast<const char*>(memchr(s, '(', len));
  const char* close = static_cast<const char*>(memrchr(s, ')', len));
  if (!open || !close || close < open || close + 4 > s + len) return false;
  *comm = open + 1;
  *comm_len = static_cast<size_t>(close - open - 1);
  *state = close[2];
  *ppid = static_cast<uint32_t>(strtoul(close + 4, nullptr, 10));
  return true;
}

bool is_number(const char* s) {
  if (!*s) return false;
  for (; *s; ++s)
    if (*s < '0' || *s > '9') return false;
  return true;
}

// The kernel names anonymous executable regions "//anon" in MMAP records
// (perf_event_mmap_event); /proc names them "" or "[anon:NAME]".
void kernel_mmap_name(const char*& name, size_t& len) {
  if (len == 0 || (len > 6 && memcmp(name, "[anon:", 6) == 0)) {
    name = "//anon";
    len = 6;
  }
}

constexpr const char* kNamespaceNames[] = {"net", "uts", "ipc", "pid", "user", "mnt", "cgroup"};
constexpr uint64_t kNamespaceCount = sizeof kNamespaceNames / sizeof kNamespaceNames[0];

}  // namespace

void append_fork(std::vector<uint8_t>& out, uint32_t pid, uint32_t ppid, uint32_t tid, uint32_t ptid,
                 uint64_t time, uint32_t cpu) {
  // FORK_EXEC, as perf's own synthesized forks: the process has maps of its
  // own, so readers must not copy the parent's onto it (Hotspot #783).
  uint8_t* p = begin_record(out, PERF_RECORD_FORK, PERF_RECORD_MISC_USER | kMiscStatusOnly | PERF_RECORD_MISC_FORK_EXEC, 24);
  p = put(p, pid);
  p = put(p, ppid);
  p = put(p, tid);
  p = put(p, ptid);
  p = put(p, time);
  put_trailer(p, pid, tid, time, cpu);
}

void append_comm(std::vector<uint8_t>& out, uint32_t pid, uint32_t tid, const char* comm, size_t len,
                 uint64_t time, uint32_t cpu) {
  const size_t name = align8(len + 1);
  uint8_t* p = begin_record(out, PERF_RECORD_COMM, PERF_RECORD_MISC_USER | kMiscStatusOnly, 8 + name);
  p = put(p, pid);
  p = put(p, tid);
  memcpy(p, comm, len);  // the rest is already zero from resize
  put_trailer(p + name, pid, tid, time, cpu);
}

void append_namespaces(std::vector<uint8_t>& out, uint32_t pid, uint32_t tid, const uint64_t (*links)[2],
                       uint64_t count, uint64_t time, uint32_t cpu) {
  uint8_t* p = begin_record(out, PERF_RECORD_NAMESPACES, PERF_RECORD_MISC_USER | kMiscStatusOnly, 16 + 16 * count);
  p = put(p, pid);
  p = put(p, tid);
  p = put(p, count);
  memcpy(p, links, 16 * count);
  put_trailer(p + 16 * count, pid, tid, time, cpu);
}

void append_mmap2(std::vector<uint8_t>& out, uint32_t pid, uint32_t tid, const Mapping& m, uint64_t time,
                  uint32_t cpu) {
  const size_t name = align8(m.name_len + 1);
  uint8_t* p = begin_record(out, PERF_RECORD_MMAP2, PERF_RECORD_MISC_USER | kMiscStatusOnly, 72 + name);
  p = put(p, pid);
  p = put(p, tid);
  p = put(p, m.start);
  p = put(p, m.end - m.start);
  p = put(p, m.pgoff);
  p = put(p, m.maj);
  p = put(p, m.min);
  p = put(p, m.ino);
  p = put(p, uint64_t{0});  // ino_generation: /proc does not expose it
  p = put(p, m.prot);
  p = put(p, m.flags);
  memcpy(p, m.name, m.name_len);
  put_trailer(p + name, pid, tid, time, cpu);
}

ProcStatusReader::ProcStatusReader(uint32_t emit_flags) : emit_flags_(emit_flags) {
  int cpu = sched_getcpu();
  cpu_ = cpu < 0 ? 0 : static_cast<uint32_t>(cpu);
  text_.resize(1 << 16);
}

bool ProcStatusReader::read_thread(int task_dir, uint32_t pid, uint32_t tid, uint32_t ppid,
                                   std::vector<uint8_t>& out, size_t& records, char& state) {
  char path[64];
  snprintf(path, sizeof path, "%u/stat", tid);
  char stat[512];
  const uint64_t time = monotonic_ns();
  ssize_t n = read_small(task_dir, path, stat, sizeof stat);
  const char* comm;
  size_t comm_len;
  uint32_t unused_ppid;
  if (n <= 0 || !parse_stat(stat, static_cast<size_t>(n), &comm, &comm_len, &state, &unused_ppid)) return false;

  if (emit_flags_ & kEmitFork) {
    // A leader's parent is its real parent; other threads take their thread group.
    if (tid == pid) append_fork(out, pid, ppid, tid, ppid, time, cpu_);
    else append_fork(out, pid, pid, tid, pid, time, cpu_);
    ++records;
  }
  if (emit_flags_ & kEmitNamespaces) {
    snprintf(path, sizeof path, "%u/ns", tid);
    int ns = openat(task_dir, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (ns < 0) return false;
    uint64_t links[kNamespaceCount][2] = {};
    for (uint64_t i = 0; i < kNamespaceCount; ++i) {
      struct stat st;
      // A namespace the kernel lacks (no CONFIG_*_NS) stays 0, as in perf.
      if (fstatat(ns, kNamespaceNames[i], &st, 0) == 0) {
        links[i][0] = st.st_dev;
        links[i][1] = st.st_ino;
      }
    }
    close(ns);
    append_namespaces(out, pid, tid, links, kNamespaceCount, time, cpu_);
    ++records;
  }
  if (emit_flags_ & kEmitComm) {
    append_comm(out, pid, tid, comm, comm_len, time, cpu_);
    ++records;
  }
  return true;
}

size_t ProcStatusReader::read_maps_query(int maps_fd, uint32_t pid, uint64_t time, std::vector<uint8_t>& out) {
  char name[4096];
  size_t records = 0;
  uint64_t addr = 0;
  for (;;) {
    ProcmapQuery q{};
    q.size = sizeof q;
    // Executable mappings only: the capture does not ask for mmap_data.
    q.query_flags = kCoveringOrNextVma | kVmaExecutable;
    q.query_addr = addr;
    q.vma_name_addr = reinterpret_cast<uint64_t>(name);
    q.vma_name_size = sizeof name;
    if (ioctl(maps_fd, kProcmapQuery, &q) != 0) {
      if (errno == ENOTTY || errno == EINVAL) {
        if (records == 0 && addr == 0) {
          procmap_query_ = false;  // an older kernel: parse the text instead
          return read_maps_text(maps_fd, pid, time, out);
        }
      }
      break;  // ENOENT: no more mappings; ESRCH: the mm is gone
    }
    const char* n = name;
    size_t len = q.vma_name_size ? q.vma_name_size - 1 : 0;
    kernel_mmap_name(n, len);
    Mapping m{q.vma_start, q.vma_end, q.vma_offset, q.inode, q.dev_major, q.dev_minor,
              static_cast<uint32_t>(((q.vma_flags & kVmaReadable) ? PROT_READ : 0) |
                                    ((q.vma_flags & kVmaWritable) ? PROT_WRITE : 0) |
                                    ((q.vma_flags & kVmaExecutable) ? PROT_EXEC : 0)),
              static_cast<uint32_t>((q.vma_flags & kVmaShared) ? MAP_SHARED : MAP_PRIVATE), n, len};
    append_mmap2(out, pid, pid, m, time, cpu_);
    ++records;
    addr = q.vma_end;
  }
  return records;
}

size_t ProcStatusReader::read_maps_text(int maps_fd, uint32_t pid, uint64_t time, std::vector<uint8_t>& out) {
  size_t used = 0;
  for (;;) {
    if (used + 4096 > text_.size()) text_.resize(text_.size() * 2);
    ssize_t n = read(maps_fd, text_.data() + used, text_.size() - used - 1);
    if (n <= 0) break;
    used += static_cast<size_t>(n);
  }
  text_[used] = 0;
  size_t records = 0;
  char* line = text_.data();
  char* end = text_.data() + used;
  while (line < end) {
    char* nl = static_cast<char*>(memchr(line, '\n', static_cast<size_t>(end - line)));
    if (!nl) nl = end;
    *nl = 0;
    // start-end perms offset maj:min inode   name
    unsigned long long start, stop, off, ino;
    unsigned maj, min;
    char perms[5];
    int name_at = 0;
    if (sscanf(line, "%llx-%llx %4s %llx %x:%x %llu %n", &start, &stop, perms, &off, &maj, &min, &ino, &name_at) >= 7 &&
        perms[2] == 'x') {
      const char* n = line + name_at;
      size_t len = strlen(n);
      kernel_mmap_name(n, len);
      Mapping m{start, stop, off, ino, maj, min,
                static_cast<uint32_t>((perms[0] == 'r' ? PROT_READ : 0) | (perms[1] == 'w' ? PROT_WRITE : 0) | PROT_EXEC),
                static_cast<uint32_t>(perms[3] == 's' ? MAP_SHARED : MAP_PRIVATE), n, len};
      append_mmap2(out, pid, pid, m, time, cpu_);
      ++records;
    }
    line = nl + 1;
  }
  return records;
}

ProcWindow ProcStatusReader::read_process(uint32_t pid, std::vector<uint8_t>& out) {
  ProcWindow w;
  w.pid = pid;
  w.begin = out.size();
  w.start = monotonic_ns();
  char path[64];
  snprintf(path, sizeof path, "/proc/%u", pid);
  int proc_dir = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (proc_dir < 0) {
    w.gone = true;
    w.end = w.start;
    w.end_offset = out.size();
    return w;
  }
  char stat[512];
  ssize_t n = read_small(proc_dir, "stat", stat, sizeof stat);
  const char* comm;
  size_t comm_len;
  char process_state = 0;
  uint32_t ppid = 0;
  if (n <= 0 || !parse_stat(stat, static_cast<size_t>(n), &comm, &comm_len, &process_state, &ppid)) {
    close(proc_dir);
    w.gone = true;
    w.end = monotonic_ns();
    w.end_offset = out.size();
    return w;
  }

  int task_dir = openat(proc_dir, "task", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (task_dir >= 0) {
    // The leader first: the other threads' FORK records name it as parent.
    char state;
    if (!read_thread(task_dir, pid, pid, ppid, out, w.records, state)) w.stale |= kStaleVanished;
    DIR* d = fdopendir(dup(task_dir));
    if (d) {
      while (dirent* e = readdir(d)) {
        if (!is_number(e->d_name)) continue;
        uint32_t tid = static_cast<uint32_t>(strtoul(e->d_name, nullptr, 10));
        if (tid == pid) continue;
        if (!read_thread(task_dir, pid, tid, ppid, out, w.records, state)) w.stale |= kStaleVanished;
      }
      closedir(d);
    }
    close(task_dir);
  } else {
    w.stale |= kStaleVanished;
  }

  if (emit_flags_ & kEmitMmap) {
    const uint64_t time = monotonic_ns();
    int maps = openat(proc_dir, "maps", O_RDONLY | O_CLOEXEC);
    size_t mapped = 0;
    if (maps >= 0) {
      mapped = procmap_query_ ? read_maps_query(maps, pid, time, out) : read_maps_text(maps, pid, time, out);
      close(maps);
    } else {
      w.stale |= kStaleVanished;
    }
    w.records += mapped;
    // A zombie (or an exiting process) has no mm left: its maps read empty,
    // which says nothing about what it had mapped.
    if (mapped == 0 && (process_state == 'Z' || process_state == 'X' || maps < 0)) w.stale |= kStaleZombie;
  }
  close(proc_dir);
  w.end = monotonic_ns();
  w.end_offset = out.size();
  if (w.stale) {
    for (size_t at = w.begin; at < w.end_offset;) {
      perf_event_header h = read_header(out.data() + at);
      write_trailer_id(out.data() + at, h.size, kProcIdBase | w.stale);
      at += h.size;
    }
  }
  return w;
}

}  // namespace sideband
