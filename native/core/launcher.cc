// A command the capture launches: its fork, its exec once released, its end.
#include "launcher.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "capture.h"
#include "errors.h"
#include "live_tasks.h"
#include "proc_status.h"

namespace sideband {

namespace {

// How long a launched command has to exit on SIGTERM when the capture stops.
constexpr uint64_t kTermGraceNs = 5'000'000'000;
// How long the wait for it sleeps between looks, as the reader's round does.
constexpr int kWaitPollMs = 20;

[[noreturn]] void explain_launch_error(const std::string& command, const char* call, int err) {
  const std::string what = "cannot launch '" + command + "': " + call + " failed: " + strerror(err);
  if (err == EMFILE)
    throw Error("EMFILE", what + ". Fix: raise the limit of open files with `ulimit -n 65536` before capturing.");
  if (err == EAGAIN)
    throw Error("ELAUNCH", what + " (this user's process limit is reached). Fix: end some of its processes, or raise "
                                  "the limit with `ulimit -u`.");
  throw Error("ELAUNCH", what + ". Fix: free some memory, files or processes, and capture again.");
}

}  // namespace

Launcher::Launcher(std::vector<std::string> command, CaptureListener& listener)
    : command_(std::move(command)), listener_(listener) {}

pid_t Launcher::launch() {
  // Everything the child needs is built before fork: after it, only
  // async-signal-safe calls until exec.
  std::vector<char*> argv;
  for (auto& a : command_) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  int go[2], err[2];
  if (pipe2(go, O_CLOEXEC) != 0) explain_launch_error(command_[0], "pipe2", errno);
  if (pipe2(err, O_CLOEXEC) != 0) {
    const int e = errno;
    close(go[0]);
    close(go[1]);
    explain_launch_error(command_[0], "pipe2", e);
  }
  // Every signal stays blocked from before fork until the child has reset
  // every handler: one arriving in between must not run ours in the child
  // (Node's writes into the signal pipe it shares with this process).
  // sigprocmask is glibc's pthread_sigmask (this thread's mask) under the
  // name glibc 2.28 exports: pthread_sigmask got a new version in 2.32.
  sigset_t all, before;
  sigfillset(&all);
  sigprocmask(SIG_SETMASK, &all, &before);
  const pid_t child = fork();
  if (child == 0) {
    // Only the parent's ends: a child holding the go pipe's write end
    // would never see it closed, and wait for ever when attach fails.
    close(go[1]);
    close(err[0]);
    struct sigaction by_default {};
    by_default.sa_handler = SIG_DFL;
    for (int sig = 1; sig < NSIG; ++sig) sigaction(sig, &by_default, nullptr);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    // Node marks its stdio close-on-exec and may leave it non-blocking; the
    // program must get ordinary stdio. The descriptor flag is the child's
    // own. The status flags belong to the description, which Node shares:
    // a pipe or tty reopened through /proc gives the child one of its own.
    // A socket cannot be reopened, and clearing O_NONBLOCK on the shared
    // one would block Node's own stdio: the program gets it as it is.
    static const char* const kStdio[] = {"/proc/self/fd/0", "/proc/self/fd/1", "/proc/self/fd/2"};
    for (int fd = 0; fd <= 2; ++fd) {
      fcntl(fd, F_SETFD, 0);
      const int flags = fcntl(fd, F_GETFL);
      if (flags < 0 || !(flags & O_NONBLOCK)) continue;
      const int own = open(kStdio[fd], (flags & O_ACCMODE) | O_CLOEXEC);
      if (own >= 0) {
        dup2(own, fd);  // dup2 clears O_CLOEXEC on fd
        close(own);
      }
    }
    // The child waits until its events are open, so the capture sees it
    // from its first instruction, as perf record does with its workload.
    char c = 0;
    if (read(go[0], &c, 1) != 1 || c != 'g') _exit(127);
    execvp(argv[0], argv.data());
    int e = errno;
    (void)!write(err[1], &e, sizeof e);
    _exit(127);
  }
  const int fork_err = errno;
  sigprocmask(SIG_SETMASK, &before, nullptr);
  close(go[0]);
  close(err[1]);
  if (child < 0) {
    close(go[1]);
    close(err[0]);
    explain_launch_error(command_[0], "fork", fork_err);
  }
  go_fd_ = go[1];
  err_fd_ = err[0];
  pid_ = child;
  return child;
}

void Launcher::release() {
  if (go_fd_ < 0) return;
  (void)!write(go_fd_, "g", 1);
  close(go_fd_);
  go_fd_ = -1;
  int e = 0;
  ssize_t n = read(err_fd_, &e, sizeof e);  // EOF: exec succeeded (CLOEXEC)
  close(err_fd_);
  err_fd_ = -1;
  if (n == static_cast<ssize_t>(sizeof e)) {
    int status;
    waitpid(pid_, &status, 0);
    exit_status_ = status;
    throw Error("ELAUNCH", "cannot run '" + command_[0] + "': " + strerror(e) +
                               ". Fix: check the command name and that it is executable (it is looked up in PATH).");
  }
}

void Launcher::reap() {
  if (pid_ <= 0 || exit_status_ >= 0) return;
  int status;
  if (waitpid(pid_, &status, WNOHANG) == pid_) exit_status_ = status;
}

// A command we launched does not outlive a capture that stopped early. One
// still waiting for its go (attach failed) exits on the closed pipe; one
// that runs gets SIGTERM. Either is waited for until kTermGraceNs, or until
// a forced stop, and then killed: a program that ignores SIGTERM must not
// keep the reader, and the host, waiting for ever.
void Launcher::end(bool exited, int wake_fd, const std::atomic<bool>& force_stop) {
  if (pid_ <= 0) return;
  const bool released = go_fd_ < 0;
  if (!released) {
    close(go_fd_);
    go_fd_ = -1;
    close(err_fd_);
    err_fd_ = -1;
  }
  if (exit_status_ >= 0) return;
  if (released && !exited && thread_running(pid_, pid_)) kill(pid_, SIGTERM);
  const uint64_t deadline = monotonic_ns() + kTermGraceNs;
  bool killed = false;
  int status;
  pid_t reaped;
  while ((reaped = waitpid(pid_, &status, WNOHANG)) == 0) {
    const bool forced = force_stop.load();
    if (!killed && (forced || monotonic_ns() >= deadline)) {
      kill(pid_, SIGKILL);
      killed = true;
      const std::string command = "the launched command '" + command_[0] + "' (pid " + std::to_string(pid_) + ")";
      if (forced)
        listener_.warning("EFORCEDKILL", command + " was killed (SIGKILL) by a forced stop before it had exited.");
      else
        listener_.warning("ETERMIGNORED", command + " did not exit within " +
                                              std::to_string(kTermGraceNs / 1'000'000'000) +
                                              " s of SIGTERM, so it was killed (SIGKILL). Fix: make it exit on "
                                              "SIGTERM, or end it yourself before the capture stops.");
    }
    // A forced stop wakes this wait at once.
    pollfd woken{wake_fd, POLLIN, 0};
    if (poll(&woken, 1, kWaitPollMs) > 0) {
      uint64_t wakes;
      (void)!read(wake_fd, &wakes, sizeof wakes);
    }
  }
  if (reaped == pid_) exit_status_ = status;
}

}  // namespace sideband
