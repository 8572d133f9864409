// The target, both sides: the process the checks ask the status of, and
// the handle the checks drive it by.
#include "target.h"

#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdarg>
#include <cstdint>
#include <cstdlib>
#include <cstring>

#include "harness.h"

namespace sideband::kernel_check {

namespace {

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

int run_mode(const char* mode, int count, int threads) {
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

}  // namespace

void write_target_files() {
  mkdir("/tmp", 01777);
  write_file(kBefore, 8);
  write_file(kAfter, 1);
  write_file(kData, 1);
}

bool is_target(int argc, char** argv) { return argc >= 3 && !strcmp(argv[1], "--target"); }

int run_target(int argc, char** argv) {
  return run_mode(argv[2], argc > 3 ? atoi(argv[3]) : 0, argc > 4 ? atoi(argv[4]) : 1);
}

Target::Target(const std::vector<std::string>& args) {
  int to[2], from[2];
  if (pipe2(to, O_CLOEXEC) != 0 || pipe2(from, O_CLOEXEC) != 0) die("pipe2: %s", strerror(errno));
  std::vector<char*> argv{program_invocation_short_name, const_cast<char*>("--target")};
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

Target::~Target() {
  if (in) fclose(in);
  if (out) fclose(out);
  if (pid > 0) {
    kill(pid, SIGKILL);
    waitpid(pid, nullptr, 0);
  }
}

std::string Target::expect(const char* prefix) {
  char line[256];
  while (fgets(line, sizeof line, out))
    if (!strncmp(line, prefix, strlen(prefix))) return line;
  return "";
}

void Target::send(const char* cmd) {
  fprintf(in, "%s\n", cmd);
  fflush(in);
}

}  // namespace sideband::kernel_check
