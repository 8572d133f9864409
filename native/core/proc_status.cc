// Reading /proc into the records PERF_EVENT_IOC_EMIT_SIDEBAND would write (see proc_status.h).
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
#include <stdexcept>
#include <string>

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
  // A size past 16 bits would wrap in the header and desynchronise every
  // walk of the records after it: the callers bound every name, as the kernel does.
  if (size > UINT16_MAX)
    throw std::length_error("a status record of " + std::to_string(size) + " bytes overflows its 16-bit size");
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

// Reads an open small /proc file from its start into buf, anew on each
// call (procfs writes it again); returns its length or -errno.
ssize_t read_whole(int fd, char* buf, size_t cap) {
  ssize_t n = pread(fd, buf, cap - 1, 0);
  if (n < 0) return -errno;
  buf[n] = 0;
  return n;
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

constexpr unsigned long kPfKthread = 0x00200000;

bool is_number(const char* s) {
  if (!*s) return false;
  for (; *s; ++s)
    if (*s < '0' || *s > '9') return false;
  return true;
}

// The longest path the kernel puts in an MMAP record: perf_event_mmap_event
// has d_path write it, with its NUL, into PATH_MAX - 8 bytes.
constexpr size_t kMaxMmapPath = 4096 - 8 - 1;

// Names a mapping as the kernel's MMAP records do (perf_event_mmap_event):
// anonymous executable regions, which /proc names "" or "[anon:NAME]", are
// "//anon"; a path too long for its buffer is "//toolong".
void kernel_mmap_name(const char*& name, size_t& len) {
  if (len == 0 || (len > 6 && memcmp(name, "[anon:", 6) == 0)) {
    name = "//anon";
    len = 6;
  } else if (len > kMaxMmapPath) {
    name = "//toolong";
    len = 9;
  }
}

// The maps text escapes a newline in a path as "\012" (seq_path), where the
// kernel's MMAP records and PROCMAP_QUERY hold the newline itself: decoded
// in place. A backslash is not escaped, so a name that holds the four
// characters \012 reads back as a newline: the text cannot tell the two apart.
size_t decode_maps_name(char* name) {
  size_t len = 0;
  for (const char* in = name; *in; ++len) {
    if (strncmp(in, "\\012", 4) == 0) {
      name[len] = '\n';
      in += 4;
    } else {
      name[len] = *in++;
    }
  }
  name[len] = 0;
  return len;
}

constexpr const char* kNamespaceNames[] = {"net", "uts", "ipc", "pid", "user", "mnt", "cgroup"};
static_assert(sizeof kNamespaceNames / sizeof kNamespaceNames[0] == kNamespaceCount);
constexpr unsigned kAllNamespaces = (1u << kNamespaceCount) - 1;
// A thread's pid and user namespaces are its process's: the kernel refuses
// CLONE_THREAD into another pid namespace, and unshare or setns of a user
// namespace in a process of more than one thread. Those two are read from
// the leader alone; the others may be a thread's own (mnt too, for a thread
// cloned without CLONE_FS).
constexpr unsigned kProcessWideNamespaces = (1u << 3) | (1u << 4);  // pid, user

}  // namespace

// The last ')' ends the comm, which may hold spaces and parentheses.
bool parse_stat(const char* s, size_t len, ProcStat& out) {
  const char* open = static_cast<const char*>(memchr(s, '(', len));
  const char* close = static_cast<const char*>(memrchr(s, ')', len));
  if (!open || !close || close < open || close + 4 > s + len) return false;
  out.comm = open + 1;
  out.comm_len = static_cast<size_t>(close - open - 1);
  out.state = close[2];
  // Fields after the state, counted from 4 (ppid) as in proc(5).
  char* p = const_cast<char*>(close + 4);
  unsigned long long field[19];
  for (int i = 0; i < 19; ++i) field[i] = strtoull(p, &p, 10);
  out.ppid = static_cast<uint32_t>(field[0]);
  out.flags = field[5];      // field 9
  out.threads = static_cast<long>(field[16]);  // field 20
  out.start_time = field[18];  // field 22
  return true;
}

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
  uint8_t* p = begin_record(out, PERF_RECORD_MMAP2, PERF_RECORD_MISC_USER | kMiscStatusOnly, 64 + name);
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

size_t append_maps_text(char* text, size_t len, uint32_t pid, uint64_t time, uint32_t cpu, std::vector<uint8_t>& out) {
  size_t records = 0;
  char* line = text;
  char* end = text + len;
  while (line < end) {
    char* nl = static_cast<char*>(memchr(line, '\n', static_cast<size_t>(end - line)));
    if (!nl) nl = end;
    *nl = 0;
    // start-end perms offset maj:min inode   name
    unsigned long long start, stop, off, ino;
    unsigned maj, min;
    char perms[5];
    int name_at = 0;
    // Permissions are four characters, "r-xp": a field cut shorter would
    // leave the rest of perms as the line before it set them.
    if (sscanf(line, "%llx-%llx %4s %llx %x:%x %llu %n", &start, &stop, perms, &off, &maj, &min, &ino, &name_at) >= 7 &&
        strlen(perms) == 4 && perms[2] == 'x') {
      char* n = line + name_at;
      // Not a VMA but the gate area: the kernel never reports it in MMAP
      // records, nor PROCMAP_QUERY, so neither path emits it.
      if (strcmp(n, "[vsyscall]") == 0) {
        line = nl + 1;
        continue;
      }
      size_t name_len = decode_maps_name(n);
      const char* name = n;
      kernel_mmap_name(name, name_len);
      Mapping m{start, stop, off, ino, maj, min,
                static_cast<uint32_t>((perms[0] == 'r' ? PROT_READ : 0) | (perms[1] == 'w' ? PROT_WRITE : 0) | PROT_EXEC),
                static_cast<uint32_t>(perms[3] == 's' ? MAP_SHARED : MAP_PRIVATE), name, name_len};
      append_mmap2(out, pid, pid, m, time, cpu);
      ++records;
    }
    line = nl + 1;
  }
  return records;
}

ProcStatusReader::ProcStatusReader(uint32_t emit_flags, bool procmap_query, std::string proc_root)
    : emit_flags_(emit_flags), procmap_query_(procmap_query), proc_root_(std::move(proc_root)) {
  int cpu = sched_getcpu();
  cpu_ = cpu < 0 ? 0 : static_cast<uint32_t>(cpu);
  text_.resize(1 << 16);
  // Every namespace inode lives on the one nsfs superblock: its device is
  // read once, and readlink alone ("net:[4026531840]") gives each inode.
  // statx, not stat: glibc 2.28 has it, stat is a 2.33 symbol.
  struct statx st;
  if (statx(AT_FDCWD, "/proc/self/ns/net", 0, STATX_BASIC_STATS, &st) == 0) nsfs_dev_ = makedev(st.stx_dev_major, st.stx_dev_minor);
}

NamespaceRead ProcStatusReader::read_namespaces(int at, const char* ns_dir, unsigned which, uint64_t (*links)[2]) {
  // Each link read by its path under `at`: one system call a namespace,
  // where a handle on the ns directory costs two more.
  NamespaceRead result = NamespaceRead::Gone;
  char path[64], link[64];
  for (uint64_t i = 0; i < kNamespaceCount; ++i) {
    if (!(which & (1u << i))) continue;
    links[i][0] = links[i][1] = 0;  // a namespace the kernel lacks stays 0, as in perf
    snprintf(path, sizeof path, "%s/%s", ns_dir, kNamespaceNames[i]);
    ssize_t n = readlinkat(at, path, link, sizeof link - 1);
    if (n <= 0) {
      if (errno == ENOENT) continue;
      result = errno == EACCES || errno == EPERM ? NamespaceRead::Denied : NamespaceRead::Gone;
      break;
    }
    link[n] = 0;
    if (const char* open = strchr(link, '[')) {
      links[i][0] = nsfs_dev_;
      links[i][1] = strtoull(open + 1, nullptr, 10);
      result = NamespaceRead::Ok;
    }
  }
  return result;
}

void ProcStatusReader::emit_thread(uint32_t pid, uint32_t tid, uint32_t ppid, const char* comm, size_t comm_len,
                                   const uint64_t (*links)[2], uint64_t time, std::vector<uint8_t>& out,
                                   size_t& records) {
  if (emit_flags_ & kEmitFork) {
    // A leader's parent is its real parent; other threads take their thread group.
    if (tid == pid) append_fork(out, pid, ppid, tid, ppid, time, cpu_);
    else append_fork(out, pid, pid, tid, pid, time, cpu_);
    ++records;
  }
  if ((emit_flags_ & kEmitNamespaces) && links) {
    append_namespaces(out, pid, tid, links, kNamespaceCount, time, cpu_);
    ++records;
  }
  if (emit_flags_ & kEmitComm) {
    append_comm(out, pid, tid, comm, comm_len, time, cpu_);
    ++records;
  }
}

size_t ProcStatusReader::read_maps_query(int maps_fd, uint32_t pid, uint64_t time, std::vector<uint8_t>& out) {
  char name[4096];
  const size_t begin = out.size();
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
      if (errno == ENOENT) break;  // no more mappings
      if ((errno == ENOTTY || errno == EINVAL) && addr == 0) procmap_query_ = false;  // an older kernel
      // Any other failure leaves the list unfinished (a name longer than
      // PATH_MAX is ENAMETOOLONG), and the text lists every mapping: this
      // process's maps come from it instead.
      out.resize(begin);
      return read_maps_text(maps_fd, pid, time, out);
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
  return append_maps_text(text_.data(), used, pid, time, cpu_, out);
}

ProcWindow ProcStatusReader::read_process(uint32_t pid, std::vector<uint8_t>& out) {
  ProcWindow w;
  w.pid = pid;
  w.begin = out.size();
  w.start = monotonic_ns();
  char path[4096], text[512];
  // One read of the process's stat tells its comm, state, parent, whether
  // it is a kernel thread and how many threads it has. It stays open to be
  // read again at the end: should the process go, that read finds nothing.
  snprintf(path, sizeof path, "%s/%u/stat", proc_root_.c_str(), pid);
  const int stat_fd = open(path, O_RDONLY | O_CLOEXEC);
  ssize_t n = stat_fd >= 0 ? read_whole(stat_fd, text, sizeof text) : -1;
  ProcStat ps;
  const auto finish = [&]() -> ProcWindow& {
    if (stat_fd >= 0) close(stat_fd);
    w.end = monotonic_ns();
    w.end_offset = out.size();
    if (w.stale)
      for_each_record(out.data() + w.begin, w.end_offset - w.begin,
                      [&](uint8_t* rec, uint16_t size) { write_trailer_id(rec, size, kProcIdBase | w.stale); });
    return w;
  };
  if (n <= 0 || !parse_stat(text, static_cast<size_t>(n), ps)) {
    w.gone = true;
    return finish();
  }
  const bool kthread = ps.flags & kPfKthread;
  const bool namespaces = emit_flags_ & kEmitNamespaces;
  // Kernel threads all run in the initial namespaces and map nothing: once
  // those are known, that one read is all a kernel thread's status needs,
  // and there is nothing after it to check against it.
  if (kthread && (!namespaces || kthread_links_valid_)) {
    emit_thread(pid, pid, ps.ppid, ps.comm, ps.comm_len, namespaces ? kthread_links_ : nullptr, w.start, out, w.records);
    return finish();
  }
  // Everything else is read through one handle on the process's directory:
  // should the process exit and its pid be reused mid-read, the handle still
  // names the first process, and finds nothing where it was, never the
  // newcomer. One reused before the handle was taken fails the stat's
  // second read.
  snprintf(path, sizeof path, "%s/%u", proc_root_.c_str(), pid);
  const int dir = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (dir < 0) {
    w.gone = true;
    return finish();
  }
  uint64_t links[kNamespaceCount][2];
  const uint64_t (*leader_links)[2] = nullptr;
  if (namespaces) {
    // Denied (a process even root may not inspect): no NAMESPACES record,
    // since nothing true can be said; the others still go out.
    const NamespaceRead r = read_namespaces(dir, "ns", kAllNamespaces, links);
    if (r == NamespaceRead::Ok) {
      leader_links = links;
      if (kthread) {
        memcpy(kthread_links_, links, sizeof links);
        kthread_links_valid_ = true;
      }
    } else if (r == NamespaceRead::Gone) {
      w.stale |= kStaleVanished;
    }
  }
  // The leader first: the other threads' FORK records name it as parent.
  emit_thread(pid, pid, ps.ppid, ps.comm, ps.comm_len, leader_links, w.start, out, w.records);

  if (ps.threads > 1) {
    int task_dir = openat(dir, "task", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    DIR* d = task_dir >= 0 ? fdopendir(task_dir) : nullptr;
    if (!d) {
      if (task_dir >= 0) close(task_dir);
      w.stale |= kStaleVanished;
    }
    // A thread's links start as its leader's, and only those it may have
    // of its own are read; without the leader's, all of them are.
    uint64_t thread_links[kNamespaceCount][2];
    const unsigned thread_namespaces = leader_links ? kAllNamespaces & ~kProcessWideNamespaces : kAllNamespaces;
    while (dirent* e = d ? readdir(d) : nullptr) {
      if (!is_number(e->d_name)) continue;
      const uint32_t tid = static_cast<uint32_t>(strtoul(e->d_name, nullptr, 10));
      if (tid == pid) continue;
      const uint64_t time = monotonic_ns();
      char comm[64];
      snprintf(path, sizeof path, "%u/comm", tid);
      ssize_t len = read_small(task_dir, path, comm, sizeof comm);
      const uint64_t (*mine)[2] = nullptr;
      if (len > 0 && namespaces) {
        if (kthread) {
          mine = leader_links;
        } else {
          if (leader_links) memcpy(thread_links, leader_links, sizeof thread_links);
          snprintf(path, sizeof path, "%u/ns", tid);
          const NamespaceRead r = read_namespaces(task_dir, path, thread_namespaces, thread_links);
          if (r == NamespaceRead::Ok) mine = thread_links;
          else if (r == NamespaceRead::Gone) len = -1;
        }
      }
      if (len <= 0) {
        w.stale |= kStaleVanished;  // listed, then gone before we read it
        continue;
      }
      if (comm[len - 1] == '\n') --len;
      emit_thread(pid, tid, ps.ppid, comm, static_cast<size_t>(len), mine, time, out, w.records);
    }
    if (d) closedir(d);
  }

  const bool read_maps = (emit_flags_ & kEmitMmap) && !kthread;
  bool maps_unread = false;
  size_t mapped = 0;
  if (read_maps) {
    const uint64_t time = monotonic_ns();
    const int maps = openat(dir, "maps", O_RDONLY | O_CLOEXEC);
    maps_unread = maps < 0;
    if (maps >= 0) {
      mapped = procmap_query_ ? read_maps_query(maps, pid, time, out) : read_maps_text(maps, pid, time, out);
      close(maps);
    }
    w.records += mapped;
  }
  // The same process to the end: its stat still reads, with the start time
  // it had. Else it went while it was read, and what came after may be missing.
  ProcStat now;
  n = read_whole(stat_fd, text, sizeof text);
  const bool same = n > 0 && parse_stat(text, static_cast<size_t>(n), now) && now.start_time == ps.start_time;
  if (!same) w.stale |= kStaleVanished;
  close(dir);
  // A zombie (or an exiting process) has no mm left: its maps read empty,
  // which says nothing about what it had mapped. It may have become one
  // while it was read.
  const auto dead = [](char state) { return state == 'Z' || state == 'X'; };
  if (read_maps && mapped == 0 && (dead(ps.state) || (same && dead(now.state)) || maps_unread)) w.stale |= kStaleZombie;
  return finish();
}

}  // namespace sideband
