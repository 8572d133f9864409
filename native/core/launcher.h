// A command the capture launches: forked and held before exec until its
// events are open, so the capture sees it from its first instruction, as
// perf record does with its workload; at the end, waited for or killed.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <string>
#include <vector>

namespace sideband {

class CaptureListener;

class Launcher {
 public:
  Launcher(std::vector<std::string> command, CaptureListener& listener);
  Launcher(const Launcher&) = delete;
  Launcher& operator=(const Launcher&) = delete;

  // Forks the command, which waits for release() before it execs.
  pid_t launch();
  // Lets a command that waits exec; throws ELAUNCH where exec failed.
  void release();
  // Takes its exit status if it has exited, without waiting.
  void reap();
  // Ends a launched command that outlives the capture; exited says the
  // capture stopped because the traced tree did. A write to wake_fd, with
  // force_stop set, cuts the grace it has on SIGTERM short.
  void end(bool exited, int wake_fd, const std::atomic<bool>& force_stop);

  // As waitpid reports it; -1 while it runs, or where nothing was launched.
  int exit_status() const { return exit_status_; }

 private:
  std::vector<std::string> command_;
  CaptureListener& listener_;
  pid_t pid_ = 0;
  int go_fd_ = -1, err_fd_ = -1;  // the pipes of release(), open until then
  int exit_status_ = -1;
};

}  // namespace sideband
