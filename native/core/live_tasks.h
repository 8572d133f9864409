// The traced tree's live tasks: which processes and threads the capture
// follows, kept by their FORK and EXIT records and checked against /proc.
#pragma once

#include <sys/types.h>

#include <map>
#include <set>
#include <vector>

namespace sideband {

// Thread ids of `pid`, leader first.
std::vector<pid_t> threads_of(pid_t pid);

// Alive for sideband purposes: present and not a zombie.
bool thread_running(pid_t pid, pid_t tid);

class LiveTasks {
 public:
  explicit LiveTasks(bool follow_children) : follow_children_(follow_children) {}

  // Follows `pid` and the threads it has now.
  void follow(pid_t pid);
  // What a FORK (else an EXIT) record of the traced tree says.
  void track(bool fork, pid_t pid, pid_t ppid, pid_t tid);
  // EXIT records normally end threads; this covers ones lost in overflow.
  void prune();

  bool empty() const { return live_.empty(); }
  std::vector<pid_t> pids() const;

 private:
  bool follow_children_;
  // Followed processes and their live threads: a process ends with its last
  // thread, not its leader (which may exit first and linger as a zombie).
  std::map<pid_t, std::set<pid_t>> live_;
};

}  // namespace sideband
