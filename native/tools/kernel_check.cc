// kernel-check: checks of PERF_EVENT_IOC_EMIT_SIDEBAND through the capture
// engine (native/core), made to run as the only program of a kernel built
// with native/kernel/*.patch (scripts/test-kernel.sh boots it).
//
//   kernel-check           every check; the kernel must have the ioctl
//   kernel-check --host    on a kernel without it: the engine must fall back
//                          to /proc, and its records must match /proc
//
// Prints one "PASS name: ..." or "FAIL name: ..." line per check, then a
// summary; exits 0 only if every check ran and passed. Every verdict comes
// from what the kernel and the engine did in this run.
#include <dirent.h>
#include <elf.h>
#include <fcntl.h>
#include <linux/perf_event.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cinttypes>
#include <condition_variable>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "../core/abi.h"
#include "../core/capture.h"
#include "../core/proc_status.h"
#include "../core/ring.h"

using namespace sideband;

namespace {

// ---------------------------------------------------------------- verdicts

int passed = 0, failed = 0;

void verdict(bool ok, const char* name, const char* fmt, ...) {
  char detail[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(detail, sizeof detail, fmt, ap);
  va_end(ap);
  printf("%s %s: %s\n", ok ? "PASS" : "FAIL", name, detail);
  fflush(stdout);
  (ok ? passed : failed)++;
}

[[noreturn]] void die(const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fprintf(stdout, "FAIL setup: ");
  vfprintf(stdout, fmt, ap);
  fprintf(stdout, "\n");
  va_end(ap);
  fflush(stdout);
  exit(1);
}

// ------------------------------------------------------------------ target
//
// The process whose status is asked for: this program again, exec'ed with
// --target, so it is single-threaded and clean when it sets itself up. It
// talks over its stdin (commands) and stdout (lines).

constexpr const char* kBefore = "/tmp/sb-before.bin";
constexpr const char* kAfter = "/tmp/sb-after.bin";
constexpr const char* kData = "/tmp/sb-data.bin";

void write_file(const char* path, size_t pages) {
  std::vector<uint8_t> bytes(pages * 4096, 0xc3);
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0755);
  if (fd < 0 || write(fd, bytes.data(), bytes.size()) != static_cast<ssize_t>(bytes.size()))
    die("cannot write %s: %s. Fix: make /tmp writable.", path, strerror(errno));
  close(fd);
}

void* map_file(const char* path, size_t len, off_t offset, int prot, int flags) {
  int fd = open(path, prot & PROT_WRITE ? O_RDWR : O_RDONLY);
  if (fd < 0) return MAP_FAILED;
  void* p = mmap(nullptr, len, prot, flags, fd, offset);
  close(fd);
  return p;
}

bool busy_workers = false;

// Blocks, or with busy_workers renames itself every half millisecond: real
// COMM records that race with a /proc read of the process.
void* worker(void* arg) {
  prctl(PR_SET_NAME, "sb-worker");
  int fd = *static_cast<int*>(arg);
  char c;
  for (unsigned i = 0; busy_workers; ++i) {
    prctl(PR_SET_NAME, i & 1 ? "sb-worker-a" : "sb-worker-b");
    usleep(500);
  }
  while (read(fd, &c, 1) < 0 && errno == EINTR) {
  }
  return nullptr;
}

void say(const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vprintf(fmt, ap);
  va_end(ap);
  fflush(stdout);
}

// Modes: "status": threads, files mapped, its own UTS namespace; on "go" it
// forks, renames itself and maps another file, so real records follow the
// status ones. "many N T": N separate executable mappings and T threads,
// for bursts; "busy N T" as many, with threads that keep renaming themselves.
int run_target(const char* mode, int count, int threads) {
  busy_workers = !strcmp(mode, "busy");
  prctl(PR_SET_NAME, "sb-target");
  int block[2];
  if (pipe(block) != 0) return 1;
  if (!strcmp(mode, "status")) {
    if (unshare(CLONE_NEWUTS) != 0) say("note unshare(CLONE_NEWUTS): %s\n", strerror(errno));
    if (map_file(kBefore, 2 * 4096, 4096, PROT_READ | PROT_EXEC, MAP_PRIVATE) == MAP_FAILED) return 1;
    if (map_file(kData, 4096, 0, PROT_READ, MAP_SHARED) == MAP_FAILED) return 1;
  } else {
    const long page = sysconf(_SC_PAGESIZE);
    // Every other page: separate VMAs, never merged with their neighbours.
    uint8_t* base = static_cast<uint8_t*>(mmap(nullptr, 2 * count * page, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
    if (base == MAP_FAILED) return 1;
    munmap(base, 2 * count * page);
    for (int i = 0; i < count; ++i)
      if (mmap(base + 2 * i * page, page, PROT_READ | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0) ==
          MAP_FAILED)
        return 1;
  }
  std::vector<pthread_t> workers(threads);
  for (auto& t : workers) pthread_create(&t, nullptr, worker, &block[0]);
  // Every thread has named itself before "ready".
  for (;;) {
    int named = 0;
    if (DIR* d = opendir("/proc/self/task")) {
      while (dirent* e = readdir(d)) {
        char path[300], comm[32] = {};
        snprintf(path, sizeof path, "/proc/self/task/%s/comm", e->d_name);
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0) continue;
        ssize_t n = read(fd, comm, sizeof comm - 1);
        close(fd);
        if (n > 0 && !strncmp(comm, "sb-worker", 9)) ++named;
      }
      closedir(d);
    }
    if (named == threads) break;
    usleep(1000);
  }
  say("ready %d\n", getpid());
  char line[64];
  while (fgets(line, sizeof line, stdin)) {
    if (!strncmp(line, "go", 2)) {
      pid_t child = fork();
      if (child == 0) _exit(0);
      waitpid(child, nullptr, 0);
      prctl(PR_SET_NAME, "sb-renamed");
      void* after = map_file(kAfter, 4096, 0, PROT_READ | PROT_EXEC, MAP_PRIVATE);
      say("done %d %p\n", child, after);
    } else if (!strncmp(line, "quit", 4)) {
      break;
    }
  }
  return 0;
}

struct Target {
  pid_t pid = -1;
  FILE* in = nullptr;   // its stdin
  FILE* out = nullptr;  // its stdout

  Target(const std::vector<std::string>& args) {
    int to[2], from[2];
    if (pipe2(to, O_CLOEXEC) != 0 || pipe2(from, O_CLOEXEC) != 0) die("pipe2: %s", strerror(errno));
    std::vector<char*> argv{const_cast<char*>("kernel-check"), const_cast<char*>("--target")};
    for (auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    pid = fork();
    if (pid < 0) die("fork: %s", strerror(errno));
    if (pid == 0) {
      dup2(to[0], 0);
      dup2(from[1], 1);
      execv("/proc/self/exe", argv.data());
      _exit(127);
    }
    close(to[0]);
    close(from[1]);
    in = fdopen(to[1], "w");
    out = fdopen(from[0], "r");
  }
  ~Target() {
    if (in) fclose(in);
    if (out) fclose(out);
    if (pid > 0) {
      kill(pid, SIGKILL);
      waitpid(pid, nullptr, 0);
    }
  }
  // The next line that starts with `prefix`, or "" at EOF.
  std::string expect(const char* prefix) {
    char line[256];
    while (fgets(line, sizeof line, out))
      if (!strncmp(line, prefix, strlen(prefix))) return line;
    return "";
  }
  void send(const char* cmd) {
    fprintf(in, "%s\n", cmd);
    fflush(in);
  }
};

// ------------------------------------------------------------- /proc oracle

std::string read_text(const std::string& path) {
  std::string s;
  FILE* f = fopen(path.c_str(), "re");
  if (!f) return s;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, f)) > 0) s.append(buf, n);
  fclose(f);
  return s;
}

std::string chomp(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

std::vector<pid_t> tids_of(pid_t pid) {
  std::vector<pid_t> tids;
  std::string dir = "/proc/" + std::to_string(pid) + "/task";
  if (DIR* d = opendir(dir.c_str())) {
    while (dirent* e = readdir(d))
      if (atoi(e->d_name) > 0) tids.push_back(atoi(e->d_name));
    closedir(d);
  }
  std::sort(tids.begin(), tids.end());
  return tids;
}

uint32_t stat_ppid(pid_t pid) {
  std::string s = read_text("/proc/" + std::to_string(pid) + "/stat");
  size_t close = s.rfind(')');
  if (close == std::string::npos) return 0;
  return static_cast<uint32_t>(strtoul(s.c_str() + close + 4, nullptr, 10));
}

constexpr const char* kNs[] = {"net", "uts", "ipc", "pid", "user", "mnt", "cgroup"};

// {dev, ino} per namespace index, 0 where the kernel has no such namespace.
std::vector<std::pair<uint64_t, uint64_t>> proc_namespaces(pid_t pid, pid_t tid) {
  std::vector<std::pair<uint64_t, uint64_t>> out;
  for (const char* ns : kNs) {
    std::string path = "/proc/" + std::to_string(pid) + "/task/" + std::to_string(tid) + "/ns/" + ns;
    char link[128] = {};
    struct stat st{};
    uint64_t dev = 0, ino = 0;
    if (readlink(path.c_str(), link, sizeof link - 1) > 0 && stat(path.c_str(), &st) == 0) {
      const char* open = strchr(link, '[');
      ino = open ? strtoull(open + 1, nullptr, 10) : 0;
      dev = st.st_dev;
    }
    out.emplace_back(dev, ino);
  }
  return out;
}

struct MapLine {
  uint64_t start, end, pgoff, ino;
  uint32_t maj, min, prot, flags;
  std::string name;
};

std::vector<MapLine> proc_maps(pid_t pid, bool exec_only) {
  std::vector<MapLine> out;
  std::string text = read_text("/proc/" + std::to_string(pid) + "/maps");
  size_t at = 0;
  while (at < text.size()) {
    size_t nl = text.find('\n', at);
    if (nl == std::string::npos) nl = text.size();
    std::string line = text.substr(at, nl - at);
    at = nl + 1;
    MapLine m{};
    char perms[8] = {};
    int name_at = 0;
    unsigned long long start, end, off, ino;
    if (sscanf(line.c_str(), "%llx-%llx %7s %llx %x:%x %llu %n", &start, &end, perms, &off, &m.maj, &m.min, &ino,
               &name_at) < 7)
      continue;
    m.start = start, m.end = end, m.pgoff = off, m.ino = ino;
    m.name = name_at > 0 && static_cast<size_t>(name_at) <= line.size() ? line.substr(name_at) : "";
    m.prot = (perms[0] == 'r' ? PROT_READ : 0) | (perms[1] == 'w' ? PROT_WRITE : 0) | (perms[2] == 'x' ? PROT_EXEC : 0);
    m.flags = perms[3] == 's' ? MAP_SHARED : MAP_PRIVATE;
    if (m.name == "[vsyscall]") continue;  // the gate area: not a VMA of the process
    if (exec_only && !(m.prot & PROT_EXEC)) continue;
    if (m.name.empty()) m.name = "//anon";  // what the kernel calls it
    out.push_back(m);
  }
  return out;
}

// ------------------------------------------------------------------ records

struct Rec {
  uint32_t type;
  uint16_t misc;
  std::vector<uint8_t> bytes;
  SampleId s;
  uint32_t u32(size_t at) const { return read_field<uint32_t>(bytes.data(), at); }
  uint64_t u64(size_t at) const { return read_field<uint64_t>(bytes.data(), at); }
  bool status() const { return misc & kMiscStatusOnly; }
  // Of a kernel record (type below 64): see record_layout.h.
  uint32_t pid() const { return record_task(bytes.data(), static_cast<uint16_t>(bytes.size())).pid; }
  uint32_t tid() const { return record_task(bytes.data(), static_cast<uint16_t>(bytes.size())).tid; }
  uint32_t ppid() const { return u32(body_layout(type).ppid); }
  uint32_t ptid() const { return u32(body_layout(type).ptid); }
  uint64_t lost() const { return u64(body_layout(type).lost); }
  std::string str(size_t at) const {
    const size_t end = bytes.size() - kTrailerSize;
    return std::string(reinterpret_cast<const char*>(bytes.data() + at), strnlen(reinterpret_cast<const char*>(bytes.data() + at), end - at));
  }
};

// Splits a stream of records; false if any record is malformed.
bool parse(const std::vector<uint8_t>& buf, std::vector<Rec>& out, std::string* why = nullptr) {
  for (size_t at = 0; at < buf.size();) {
    if (buf.size() - at < sizeof(perf_event_header)) {
      if (why) *why = "torn header at " + std::to_string(at);
      return false;
    }
    perf_event_header h = read_header(buf.data() + at);
    const bool user = h.type >= 64;
    if (h.size < sizeof h || h.size % 8 || h.size > buf.size() - at || (!user && h.size < sizeof h + kTrailerSize) ||
        (!user && (h.type == 0 || h.type > PERF_RECORD_MAX))) {
      if (why) *why = "bad record type " + std::to_string(h.type) + " size " + std::to_string(h.size) + " at " + std::to_string(at);
      return false;
    }
    Rec r{h.type, h.misc, std::vector<uint8_t>(buf.begin() + at, buf.begin() + at + h.size), {}};
    if (!user) r.s = read_trailer(buf.data() + at, h.size);
    out.push_back(std::move(r));
    at += h.size;
  }
  return true;
}

// ---------------------------------------------------------- raw perf events

// The engine's own attr, not inherited, as its ioctl event has it: each of
// these events, like that one, is opened on one task.
perf_event_attr engine_attr() {
  CaptureOptions options;
  options.follow_children = false;
  return capture_attr(options);
}

struct RawEvent {
  int fd = -1;
  std::unique_ptr<Ring> ring;
  RawEvent(perf_event_attr attr, pid_t pid, int cpu, size_t pages) {
    fd = static_cast<int>(syscall(SYS_perf_event_open, &attr, pid, cpu, -1, PERF_FLAG_FD_CLOEXEC));
    if (fd < 0) return;
    if (pages) ring = std::make_unique<Ring>(fd, pages);
  }
  ~RawEvent() {
    ring.reset();
    if (fd >= 0) close(fd);
  }
  int emit(pid_t pid, uint32_t flags) {
    PerfEventPidSb sb{static_cast<uint32_t>(pid), flags};
    return ioctl(fd, kIocEmitSideband, &sb) == 0 ? 0 : errno;
  }
  std::vector<uint8_t> drain() {
    std::vector<uint8_t> out;
    if (ring) ring->drain([&](const uint8_t* r, uint16_t n) { out.insert(out.end(), r, r + n); });
    return out;
  }
};

const char* err_name(int e) {
  switch (e) {
    case 0: return "success";
    case EINVAL: return "EINVAL";
    case ESRCH: return "ESRCH";
    case EACCES: return "EACCES";
    case EBUSY: return "EBUSY";
    case ENOTTY: return "ENOTTY";
    case EPERM: return "EPERM";
  }
  return strerror(e);
}

// --------------------------------------------------------------- the engine

class Collector : public CaptureListener {
 public:
  void attached(const AttachInfo& info) override {
    std::lock_guard<std::mutex> l(m_);
    info_ = info;
  }
  void records(std::vector<uint8_t>&& batch, const CaptureStats& stats) override {
    std::lock_guard<std::mutex> l(m_);
    bytes_.insert(bytes_.end(), batch.begin(), batch.end());
    stats_ = stats;
  }
  void snapshot(const SnapshotInfo& info) override {
    std::lock_guard<std::mutex> l(m_);
    snapshots_.push_back(info);
    cv_.notify_all();
  }
  void warning(const std::string& code, const std::string& message) override {
    std::lock_guard<std::mutex> l(m_);
    warnings_.push_back(code + ": " + message);
  }
  void failed(const Error& e) override {
    std::lock_guard<std::mutex> l(m_);
    error_ = e.code() + ": " + e.what();
    cv_.notify_all();
  }
  void stopped(const StopInfo& s) override {
    std::lock_guard<std::mutex> l(m_);
    stop_ = s;
    cv_.notify_all();
  }
  bool wait_snapshot(int seconds) {
    std::unique_lock<std::mutex> l(m_);
    return cv_.wait_for(l, std::chrono::seconds(seconds), [&] { return !snapshots_.empty() || !error_.empty(); }) &&
           !snapshots_.empty();
  }

  std::mutex m_;
  std::condition_variable cv_;
  AttachInfo info_;
  std::vector<uint8_t> bytes_;
  CaptureStats stats_;
  std::vector<SnapshotInfo> snapshots_;
  std::vector<std::string> warnings_;
  std::string error_;
  StopInfo stop_;
};

struct Run {
  Collector c;
  std::vector<Rec> recs;
  bool parsed = false;
  std::string parse_error;
};

// Captures `pid` from attach until `after` has run and settled.
template <typename After>
std::unique_ptr<Run> capture(pid_t pid, bool try_ioctl, size_t ring_pages, After&& after) {
  auto run = std::make_unique<Run>();
  CaptureOptions o;
  o.pid = pid;
  o.try_ioctl = try_ioctl;
  o.ring_pages = ring_pages;
  Capture cap(o, &run->c);
  cap.start();
  if (run->c.wait_snapshot(30)) after();
  usleep(100 * 1000);
  cap.request_stop();
  cap.join();
  run->parsed = parse(run->c.bytes_, run->recs, &run->parse_error);
  return run;
}

std::string join(const std::vector<std::string>& v) {
  std::string s;
  for (auto& x : v) s += (s.empty() ? "" : "; ") + x;
  return s;
}

// ------------------------------------------------------------------- checks

struct Oracle {
  pid_t pid;
  std::vector<pid_t> tids;
  uint32_t ppid;
  std::map<pid_t, std::string> comm;
  std::map<pid_t, std::vector<std::pair<uint64_t, uint64_t>>> ns;
  std::vector<MapLine> exec_maps, all_maps;
};

Oracle read_oracle(pid_t pid) {
  Oracle o;
  o.pid = pid;
  o.tids = tids_of(pid);
  o.ppid = stat_ppid(pid);
  for (pid_t t : o.tids) {
    o.comm[t] = chomp(read_text("/proc/" + std::to_string(pid) + "/task/" + std::to_string(t) + "/comm"));
    o.ns[t] = proc_namespaces(pid, t);
  }
  o.exec_maps = proc_maps(pid, true);
  o.all_maps = proc_maps(pid, false);
  return o;
}

bool thread_of(uint32_t pid, uint32_t tid) {
  struct stat st;
  return stat(("/proc/" + std::to_string(pid) + "/task/" + std::to_string(tid)).c_str(), &st) == 0;
}

// Status records of `o.pid` must say what /proc says. Returns problems.
void check_emitters(const char* origin, const std::vector<Rec>& status, const Oracle& o) {
  // FORK: one per thread; the leader's parent is its real parent, a
  // thread's is its own thread group.
  {
    std::vector<std::string> bad;
    std::set<pid_t> seen;
    for (const Rec& r : status) {
      if (r.type != PERF_RECORD_FORK) continue;
      const uint32_t pid = r.pid(), ppid = r.ppid(), tid = r.tid(), ptid = r.ptid();
      seen.insert(static_cast<pid_t>(tid));
      if (pid != static_cast<uint32_t>(o.pid)) bad.push_back("pid " + std::to_string(pid));
      if (tid == pid) {
        if (ppid != o.ppid || !thread_of(ppid, ptid))
          bad.push_back("leader ppid/ptid " + std::to_string(ppid) + "/" + std::to_string(ptid) + ", /proc ppid " +
                        std::to_string(o.ppid));
      } else if (ppid != pid || ptid != pid) {
        bad.push_back("thread " + std::to_string(tid) + " ppid/ptid " + std::to_string(ppid) + "/" + std::to_string(ptid));
      }
    }
    std::set<pid_t> want(o.tids.begin(), o.tids.end());
    if (seen != want) bad.push_back(std::to_string(seen.size()) + " threads have FORK, /proc lists " + std::to_string(want.size()));
    std::string name = std::string(origin) + " FORK matches /proc";
    verdict(bad.empty(), name.c_str(), "%zu threads, leader ppid %u%s%s", seen.size(), o.ppid, bad.empty() ? "" : "; ",
            join(bad).c_str());
  }
  // COMM, per thread, without COMM_EXEC.
  {
    std::vector<std::string> bad;
    size_t n = 0;
    for (const Rec& r : status) {
      if (r.type != PERF_RECORD_COMM) continue;
      ++n;
      const pid_t tid = static_cast<pid_t>(r.tid());
      auto it = o.comm.find(tid);
      if (it == o.comm.end() || it->second != r.str(16)) bad.push_back("tid " + std::to_string(tid) + " '" + r.str(16) + "'");
      if (r.misc & PERF_RECORD_MISC_COMM_EXEC) bad.push_back("COMM_EXEC set");
    }
    if (n != o.tids.size()) bad.push_back(std::to_string(n) + " COMM for " + std::to_string(o.tids.size()) + " threads");
    std::string name = std::string(origin) + " COMM matches /proc";
    verdict(bad.empty(), name.c_str(), "%zu records, leader '%s'%s%s", n, o.comm.at(o.pid).c_str(), bad.empty() ? "" : "; ",
            join(bad).c_str());
  }
  // NAMESPACES: dev and inode of every namespace, per thread.
  {
    std::vector<std::string> bad;
    size_t n = 0;
    for (const Rec& r : status) {
      if (r.type != PERF_RECORD_NAMESPACES) continue;
      ++n;
      const pid_t tid = static_cast<pid_t>(r.tid());
      const uint64_t count = r.u64(16);
      auto it = o.ns.find(tid);
      if (it == o.ns.end() || count != it->second.size()) {
        bad.push_back("tid " + std::to_string(tid) + " nr " + std::to_string(count));
        continue;
      }
      for (uint64_t i = 0; i < count; ++i) {
        const uint64_t dev = r.u64(24 + 16 * i), ino = r.u64(32 + 16 * i);
        if (dev != it->second[i].first || ino != it->second[i].second)
          bad.push_back(std::string(kNs[i]) + " " + std::to_string(dev) + ":" + std::to_string(ino) + " vs /proc " +
                        std::to_string(it->second[i].first) + ":" + std::to_string(it->second[i].second));
      }
    }
    if (n != o.tids.size()) bad.push_back(std::to_string(n) + " NAMESPACES for " + std::to_string(o.tids.size()) + " threads");
    const auto& uts = o.ns.at(o.pid)[1];
    std::string name = std::string(origin) + " NAMESPACES match /proc";
    verdict(bad.empty(), name.c_str(), "%zu records, uts %" PRIu64 ":%" PRIu64 "%s%s", n, uts.first, uts.second,
            bad.empty() ? "" : "; ", join(bad).c_str());
  }
  // MMAP2: every executable mapping, with /proc's range, offset, device,
  // inode, protection, sharing and name.
  {
    std::vector<std::string> bad;
    std::vector<MapLine> got;
    for (const Rec& r : status) {
      if (r.type != PERF_RECORD_MMAP2) continue;
      MapLine m{r.u64(16), r.u64(16) + r.u64(24), r.u64(32), r.u64(48), r.u32(40), r.u32(44), r.u32(64), r.u32(68), r.str(72)};
      if (r.misc & PERF_RECORD_MISC_MMAP_BUILD_ID) bad.push_back("unexpected build-id");
      got.push_back(m);
    }
    auto key = [](const MapLine& m) {
      char k[512];
      snprintf(k, sizeof k, "%" PRIx64 "-%" PRIx64 " off %" PRIx64 " %x:%x ino %" PRIu64 " prot %u flags %u %s", m.start,
               m.end, m.pgoff, m.maj, m.min, m.ino, m.prot, m.flags, m.name.c_str());
      return std::string(k);
    };
    std::multiset<std::string> a, b;
    for (auto& m : got) a.insert(key(m));
    for (auto& m : o.exec_maps) b.insert(key(m));
    for (auto& k : a)
      if (!b.count(k)) bad.push_back("record " + k + " not in /proc");
    for (auto& k : b)
      if (!a.count(k)) bad.push_back("/proc " + k + " has no record");
    bool before = false;
    for (auto& m : got) before |= m.name == kBefore && m.pgoff == 4096 && m.end - m.start == 2 * 4096;
    if (!before) bad.push_back(std::string("no MMAP2 of ") + kBefore + " at offset 4096");
    std::string name = std::string(origin) + " MMAP2 matches /proc/PID/maps";
    verdict(bad.empty(), name.c_str(), "%zu records, %zu executable mappings in /proc%s%s", got.size(), o.exec_maps.size(),
            bad.empty() ? "" : "; ", join(bad).c_str());
  }
}

// The status of a target that ran before attach, the real records it makes
// afterwards, through the engine; `kernel` says which path must be taken.
void check_capture(bool kernel) {
  const char* origin = kernel ? "ioctl" : "proc";
  Target t({"status"});
  std::string ready = t.expect("ready");
  if (ready.empty()) die("the status target did not start");
  const Oracle o = read_oracle(t.pid);
  std::string done;
  auto run = capture(t.pid, true, 64, [&] {
    t.send("go");
    done = t.expect("done");
  });
  Collector& c = run->c;
  if (!c.error_.empty() || run->c.snapshots_.empty()) {
    verdict(false, "engine capture", "error '%s', %zu snapshots, warnings: %s", c.error_.c_str(), c.snapshots_.size(),
            join(c.warnings_).c_str());
    return;
  }
  verdict(run->parsed, "engine records parse", "%zu records, %zu bytes%s%s", run->recs.size(), c.bytes_.size(),
          run->parsed ? "" : ": ", run->parse_error.c_str());
  const SnapshotInfo& snap = c.snapshots_.front();
  const StatusPath want = kernel ? StatusPath::Ioctl : StatusPath::Proc;
  verdict(snap.path == want, "snapshot path", "SnapshotInfo path=%s (want %s), ioctl_id=%" PRIu64 ", warnings: %s",
          status_path_name(snap.path), status_path_name(want), c.info_.ioctl_id,
          c.warnings_.empty() ? "none" : join(c.warnings_).c_str());

  std::vector<Rec> status;
  uint64_t last_status = 0;
  size_t wrong_id = 0;
  std::set<uint32_t> kinds;
  for (const Rec& r : run->recs) {
    if (r.type >= 64 || !r.status() || r.pid() != static_cast<uint32_t>(t.pid)) continue;
    // Only records of the path under test count for the checks below.
    const bool ok = kernel ? (r.s.id == c.info_.ioctl_id && c.info_.ioctl_id != 0 && !is_proc_id(r.s.id)) : is_proc_id(r.s.id);
    if (!ok) {
      ++wrong_id;
      continue;
    }
    status.push_back(r);
    kinds.insert(r.type);
    last_status = std::max(last_status, r.s.time);
  }
  const bool all_kinds = kinds == std::set<uint32_t>{PERF_RECORD_FORK, PERF_RECORD_COMM, PERF_RECORD_NAMESPACES, PERF_RECORD_MMAP2};
  const bool stats_ok = kernel ? c.stop_.stats.proc_records == 0 && c.stop_.stats.ioctl_records >= status.size()
                               : c.stop_.stats.ioctl_records == 0 && c.stop_.stats.proc_records >= status.size();
  {
    std::string name = std::string("status records have provenance ") + origin;
    verdict(!status.empty() && wrong_id == 0 && all_kinds && stats_ok, name.c_str(),
            "%zu status records of pid %d with it (FORK/NAMESPACES/COMM/MMAP2 %s), %zu with another id; engine counted ioctl=%" PRIu64
            " proc=%" PRIu64,
            status.size(), t.pid, all_kinds ? "all present" : "MISSING some", wrong_id, c.stop_.stats.ioctl_records,
            c.stop_.stats.proc_records);
  }
  if (kernel) {
    // One ring per CPU, as perf record has them: more than one here.
    verdict(c.info_.cpus.size() >= 2 && c.info_.ids.size() >= c.info_.cpus.size(), "per-CPU rings on every CPU",
            "%zu CPUs online, %zu events", c.info_.cpus.size(), c.info_.ids.size());
    // The kernel writes under its own locks: nothing to mark stale.
    size_t marked = 0;
    for (const Rec& r : run->recs) marked += r.type < 64 && r.status() && is_proc_id(r.s.id) && (r.s.id & kStaleMask);
    verdict(!status.empty() && wrong_id == 0 && snap.stale == 0 && marked == 0, "ioctl status carries no stale marks",
            "%zu ioctl status records, %zu marked stale in SnapshotInfo, %zu in the stream", status.size(), snap.stale,
            marked);
  }

  // Ordering: what the target did after attach arrives as real records,
  // stamped after every status record; the engine's stream is in time order.
  {
    pid_t child = 0;
    void* after_addr = nullptr;
    if (sscanf(done.c_str(), "done %d %p", &child, &after_addr) != 2) child = 0;
    uint64_t fork_t = 0, comm_t = 0, mmap_t = 0;
    for (const Rec& r : run->recs) {
      if (r.type >= 64 || r.status()) continue;
      if (r.type == PERF_RECORD_FORK && r.pid() == static_cast<uint32_t>(child) && r.ppid() == static_cast<uint32_t>(t.pid))
        fork_t = r.s.time;
      if (r.type == PERF_RECORD_COMM && r.pid() == static_cast<uint32_t>(t.pid) && r.str(16) == "sb-renamed") comm_t = r.s.time;
      if (r.type == PERF_RECORD_MMAP2 && r.pid() == static_cast<uint32_t>(t.pid) && r.str(72) == kAfter) mmap_t = r.s.time;
    }
    bool sorted = true;
    uint64_t prev = 0;
    for (const Rec& r : run->recs) {
      if (r.type >= 64) continue;
      if (r.s.time < prev) sorted = false;
      prev = r.s.time;
    }
    const bool found = fork_t && comm_t && mmap_t;
    const bool later = found && !status.empty() && fork_t > last_status && comm_t > last_status && mmap_t > last_status;
    std::string name = std::string(origin) + " status ordered before later real records";
    verdict(found && later && sorted, name.c_str(),
            "last status %" PRIu64 ", real FORK %+" PRId64 " ns, COMM %+" PRId64 " ns, MMAP2 %+" PRId64
            " ns after it%s; stream %s",
            last_status, found ? static_cast<int64_t>(fork_t - last_status) : 0,
            found ? static_cast<int64_t>(comm_t - last_status) : 0, found ? static_cast<int64_t>(mmap_t - last_status) : 0,
            found ? "" : " (a real record is MISSING)", sorted ? "in time order" : "OUT OF ORDER");
  }
  check_emitters(origin, status, o);
  t.send("quit");
}

// The ioctl itself, on events of our own.
void check_raw_ioctl() {
  Target t({"status"});
  if (t.expect("ready").empty()) die("the status target did not start");
  const Oracle o = read_oracle(t.pid);
  const uint32_t all = kEmitFork | kEmitNamespaces | kEmitComm | kEmitMmap;

  // Succeeds, and what it writes is STATUS_ONLY records with this event's id.
  {
    RawEvent ev(engine_attr(), 0, -1, 64);
    if (ev.fd < 0) die("perf_event_open of a dummy event: %s. Fix: a kernel with CONFIG_PERF_EVENTS.", strerror(errno));
    uint64_t id = 0;
    ioctl(ev.fd, PERF_EVENT_IOC_ID, &id);
    ev.drain();
    const int err = ev.emit(t.pid, all);
    std::vector<Rec> recs;
    const bool ok = parse(ev.drain(), recs);
    size_t status = 0, ours = 0;
    for (auto& r : recs)
      if (r.type < 64 && r.status()) {
        ++status;
        ours += r.s.id == id && r.pid() == static_cast<uint32_t>(t.pid) && r.s.pid == static_cast<uint32_t>(t.pid);
      }
    verdict(err == 0 && ok && status > 0 && ours == status, "ioctl succeeds",
            "PERF_EVENT_IOC_EMIT_SIDEBAND(pid %d, all flags) returned %s, wrote %zu STATUS_ONLY records, %zu with this "
            "event's id and the target's sample pid",
            t.pid, err_name(err), status, ours);
  }

  // mmap_data: data VMAs too, flagged MMAP_DATA; build_id: build IDs.
  {
    perf_event_attr a = engine_attr();
    a.mmap_data = 1;
    RawEvent ev(a, 0, -1, 256);
    ev.drain();
    const int err = ev.emit(t.pid, kEmitMmap);
    std::vector<Rec> recs;
    parse(ev.drain(), recs);
    size_t data = 0, exec = 0, wrong_flag = 0;
    for (auto& r : recs) {
      if (r.type != PERF_RECORD_MMAP2 || !r.status()) continue;
      const bool is_exec = r.u32(64) & PROT_EXEC;
      (is_exec ? exec : data)++;
      if (is_exec == static_cast<bool>(r.misc & PERF_RECORD_MISC_MMAP_DATA)) ++wrong_flag;
    }
    const size_t want_data = o.all_maps.size() - o.exec_maps.size();
    verdict(err == 0 && data == want_data && exec == o.exec_maps.size() && wrong_flag == 0, "mmap_data adds data VMAs",
            "returned %s; %zu data + %zu executable records, /proc has %zu + %zu; %zu with a wrong MMAP_DATA flag",
            err_name(err), data, exec, want_data, o.exec_maps.size(), wrong_flag);
  }
  {
    perf_event_attr a = engine_attr();
    a.build_id = 1;
    RawEvent ev(a, 0, -1, 64);
    ev.drain();
    const int err = ev.emit(t.pid, kEmitMmap);
    std::vector<Rec> recs;
    parse(ev.drain(), recs);
    // The target is this program: its build ID from the ELF note.
    std::string want;
    {
      std::string elf = read_text("/proc/self/exe");
      const auto* eh = reinterpret_cast<const Elf64_Ehdr*>(elf.data());
      for (int i = 0; elf.size() > sizeof *eh && i < eh->e_phnum; ++i) {
        const auto* ph = reinterpret_cast<const Elf64_Phdr*>(elf.data() + eh->e_phoff + i * eh->e_phentsize);
        if (ph->p_type != PT_NOTE) continue;
        for (size_t at = ph->p_offset; at + sizeof(Elf64_Nhdr) <= ph->p_offset + ph->p_filesz;) {
          const auto* nh = reinterpret_cast<const Elf64_Nhdr*>(elf.data() + at);
          const size_t name = (nh->n_namesz + 3) & ~3u, desc = (nh->n_descsz + 3) & ~3u;
          if (nh->n_type == NT_GNU_BUILD_ID && nh->n_namesz == 4 && !memcmp(elf.data() + at + sizeof *nh, "GNU", 4))
            for (size_t k = 0; k < nh->n_descsz; ++k) {
              char hex[3];
              snprintf(hex, sizeof hex, "%02x", static_cast<uint8_t>(elf[at + sizeof *nh + name + k]));
              want += hex;
            }
          at += sizeof *nh + name + desc;
        }
      }
    }
    std::string got;
    size_t with = 0, exe = 0;
    char self[256] = {};
    (void)!readlink("/proc/self/exe", self, sizeof self - 1);
    for (auto& r : recs) {
      if (r.type != PERF_RECORD_MMAP2 || !r.status() || r.str(72) != self) continue;
      ++exe;
      if (!(r.misc & PERF_RECORD_MISC_MMAP_BUILD_ID)) continue;
      ++with;
      got.clear();
      for (uint8_t k = 0; k < r.bytes[40] && k < 20; ++k) {
        char hex[3];
        snprintf(hex, sizeof hex, "%02x", r.bytes[44 + k]);
        got += hex;
      }
    }
    verdict(err == 0 && !want.empty() && exe > 0 && with == exe && got == want, "build_id: MMAP2 carries the build ID",
            "returned %s; %zu of %zu records of %s have MMAP_BUILD_ID, %s vs ELF note %s", err_name(err), with, exe, self,
            got.empty() ? "-" : got.c_str(), want.empty() ? "(none)" : want.c_str());
  }

  // Errors, as the seed has them.
  {
    pid_t gone = fork();
    if (gone == 0) _exit(0);
    waitpid(gone, nullptr, 0);
    RawEvent ev(engine_attr(), 0, -1, 8);
    const int err = ev.emit(gone, kEmitComm);
    verdict(err == ESRCH, "missing task gives ESRCH", "pid %d (exited and reaped): %s", gone, err_name(err));
  }
  {
    RawEvent ev(engine_attr(), 0, -1, 8);
    const int err = ev.emit(t.pid, 1u << 4);
    verdict(err == EINVAL, "unknown flag gives EINVAL", "emit_flags 0x10: %s", err_name(err));
  }
  {
    perf_event_attr a = engine_attr();
    a.comm = 0;
    RawEvent no_comm(a, 0, -1, 8);
    const int e1 = no_comm.emit(t.pid, kEmitComm);
    a = engine_attr();
    a.sample_id_all = 0;
    RawEvent no_time(a, 0, -1, 8);
    const int e2 = no_time.emit(t.pid, kEmitComm);
    a = engine_attr();
    a.mmap = a.mmap2 = 0;
    RawEvent no_mmap(a, 0, -1, 8);
    const int e3 = no_mmap.emit(t.pid, kEmitMmap);
    a = engine_attr();
    a.namespaces = 0;
    RawEvent no_ns(a, 0, -1, 8);
    const int e4 = no_ns.emit(t.pid, kEmitNamespaces);
    verdict(e1 == EINVAL && e2 == EINVAL && e3 == EINVAL && e4 == EINVAL, "missing attr bits give EINVAL",
            "COMM without attr.comm: %s; without sample_id_all: %s; MMAP without mmap/mmap2/mmap_data: %s; NAMESPACES "
            "without attr.namespaces: %s",
            err_name(e1), err_name(e2), err_name(e3), err_name(e4));
  }
  {
    perf_event_attr a = engine_attr();
    a.disabled = 1;
    RawEvent disabled(a, 0, -1, 8);
    const int e1 = disabled.emit(t.pid, kEmitComm);
    RawEvent other(engine_attr(), t.pid, -1, 8);  // an event of another task
    const int e2 = other.emit(t.pid, kEmitComm);
    const std::vector<uint8_t> other_bytes = other.drain();
    verdict(e1 == EBUSY && e2 == EBUSY && other_bytes.empty(), "inactive event gives EBUSY",
            "disabled event: %s; event of another task: %s, wrote %zu bytes", err_name(e1), err_name(e2), other_bytes.size());
  }
  {
    // perf_event_open's permission check: an unprivileged caller may not
    // ask for the status of root's process.
    int pipefd[2];
    if (pipe(pipefd) != 0) die("pipe: %s", strerror(errno));
    pid_t child = fork();
    if (child == 0) {
      int result = -1;
      if (setresgid(65534, 65534, 65534) == 0 && setresuid(65534, 65534, 65534) == 0) {
        perf_event_attr a = engine_attr();
        a.namespaces = 0;  // that needs CAP_PERFMON
        RawEvent ev(a, 0, -1, 0);
        result = ev.fd < 0 ? -errno : ev.emit(t.pid, kEmitComm);
      }
      (void)!write(pipefd[1], &result, sizeof result);
      _exit(0);
    }
    int result = -2;
    close(pipefd[1]);
    (void)!read(pipefd[0], &result, sizeof result);
    close(pipefd[0]);
    waitpid(child, nullptr, 0);
    verdict(result == EACCES, "no ptrace access gives EACCES", "uid 65534 asking for root's pid %d: %s", t.pid,
            result < 0 ? (std::string("could not set up: ") + (result == -1 ? "setresuid" : strerror(-result))).c_str()
                       : err_name(result));
  }
  t.send("quit");
}

// A burst larger than the ring: LOST records, and what is there parses.
void check_overflow() {
  const int maps = 400;
  Target t({"many", std::to_string(maps), "0"});
  if (t.expect("ready").empty()) die("the many-mappings target did not start");
  const size_t exec_vmas = proc_maps(t.pid, true).size();
  {
    RawEvent ev(engine_attr(), 0, -1, 1);  // one page, not read during the burst
    const int err = ev.emit(t.pid, kEmitMmap);
    std::vector<uint8_t> first = ev.drain();
    // The kernel writes LOST once there is room again: at the next record.
    const int err2 = ev.emit(getpid(), kEmitComm);
    std::vector<uint8_t> second = ev.drain();
    std::vector<Rec> recs;
    std::string why;
    const bool ok = parse(first, recs, &why) && parse(second, recs, &why);
    uint64_t lost = 0, mmaps = 0, lost_records = 0;
    for (auto& r : recs) {
      if (r.type == PERF_RECORD_LOST) {
        lost += r.lost();
        ++lost_records;
      }
      if (r.type == PERF_RECORD_MMAP2 && r.status() && r.pid() == static_cast<uint32_t>(t.pid)) ++mmaps;
    }
    verdict(err == 0 && err2 == 0 && ok && lost_records > 0 && mmaps + lost == exec_vmas, "overflow gives LOST, not corruption",
            "ioctl %s; 1-page ring: %" PRIu64 " MMAP2 read + %" PRIu64 " in %" PRIu64 " LOST records = %" PRIu64
            " of %zu executable VMAs; records %s",
            err_name(err), mmaps, lost, lost_records, mmaps + lost, exec_vmas, ok ? "parse cleanly" : why.c_str());
  }
  {
    // Through the engine: a one-page ring of its own ioctl event.
    auto run = capture(t.pid, true, 1, [] {});
    uint64_t mmaps = 0;
    for (auto& r : run->recs)
      if (r.type == PERF_RECORD_MMAP2 && r.status() && r.pid() == static_cast<uint32_t>(t.pid)) ++mmaps;
    const CaptureStats& s = run->c.stop_.stats;
    const bool path = !run->c.snapshots_.empty() && run->c.snapshots_.front().path == StatusPath::Ioctl;
    verdict(run->parsed && path && s.lost > 0 && s.lost_records > 0 && mmaps + s.lost >= exec_vmas,
            "engine reports ioctl overflow as LOST",
            "path %s; %" PRIu64 " MMAP2 delivered, %" PRIu64 " lost in %" PRIu64 " LOST records, %zu executable VMAs; "
            "records %s",
            path ? "ioctl" : "NOT ioctl", mmaps, s.lost, s.lost_records, exec_vmas,
            run->parsed ? "parse cleanly" : run->parse_error.c_str());
  }
  t.send("quit");
}

// Both paths on the same targets, a few times each: the README's table.
void compare_paths() {
  const int maps = 200, threads = 8, rounds = 5;
  printf("comparison: %d threads + leader, about %d executable mappings, %d captures per path and target (median)\n",
         threads, maps, rounds);
  printf("| target | path | time to emit the status | records | stale marks |\n|---|---|--:|--:|--:|\n");
  for (const char* mode : {"many", "busy"}) {
    Target t({mode, std::to_string(maps), std::to_string(threads)});
    if (t.expect("ready").empty()) die("the comparison target did not start");
    for (bool kernel : {true, false}) {
      std::vector<uint64_t> times;
      std::vector<size_t> records, stale;
      StatusPath path = StatusPath::None;
      for (int i = 0; i < rounds; ++i) {
        auto run = capture(t.pid, kernel, 64, [] {});
        if (run->c.snapshots_.empty()) continue;
        const SnapshotInfo& s = run->c.snapshots_.front();
        times.push_back(s.end - s.start);
        records.push_back(s.records);
        // Race marks are set as records leave the engine, not in SnapshotInfo.
        size_t marked = 0;
        for (const Rec& r : run->recs) marked += r.type < 64 && r.status() && is_proc_id(r.s.id) && (r.s.id & kStaleMask);
        stale.push_back(marked);
        path = s.path;
      }
      auto median = [](auto v) {
        std::sort(v.begin(), v.end());
        return v.empty() ? decltype(v[0] + 0){} : v[v.size() / 2];
      };
      printf("| %s | %s | %.0f us | %zu | %zu |\n", !strcmp(mode, "busy") ? "threads renaming themselves" : "idle",
             status_path_name(path), median(times) / 1e3, median(records), median(stale));
    }
    t.send("quit");
  }
  fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc >= 3 && !strcmp(argv[1], "--target"))
    return run_target(argv[2], argc > 3 ? atoi(argv[3]) : 0, argc > 4 ? atoi(argv[4]) : 1);
  const bool host = argc >= 2 && !strcmp(argv[1], "--host");
  if (argc >= 2 && !host) {
    fprintf(stderr, "usage: kernel-check [--host]\n");
    return 2;
  }
  setvbuf(stdout, nullptr, _IOLBF, 0);
  signal(SIGPIPE, SIG_IGN);
  mkdir("/tmp", 01777);
  write_file(kBefore, 8);
  write_file(kAfter, 1);
  write_file(kData, 1);

  if (host) {
    // A kernel without the RFC: the same engine must take /proc, and say so.
    check_capture(false);
  } else {
    check_raw_ioctl();
    check_capture(true);
    check_overflow();
    compare_paths();
  }
  const int expected = host ? 8 : 20;
  const bool all = failed == 0 && passed == expected;
  printf("kernel-check: %d passed, %d failed, %d expected: %s\n", passed, failed, expected, all ? "PASS" : "FAIL");
  return all ? 0 : 1;
}
