// The traced tree's live tasks, followed by records and checked against /proc.
#include "live_tasks.h"

#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <iterator>

#include "proc_status.h"

namespace sideband {

std::vector<pid_t> threads_of(pid_t pid) {
  std::vector<pid_t> tids{pid};
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/task", pid);
  if (DIR* d = opendir(path)) {
    while (dirent* e = readdir(d)) {
      pid_t tid = static_cast<pid_t>(atoi(e->d_name));
      if (tid > 0 && tid != pid) tids.push_back(tid);
    }
    closedir(d);
  }
  return tids;
}

bool thread_running(pid_t pid, pid_t tid) {
  char path[96], buf[512];
  snprintf(path, sizeof path, "/proc/%d/task/%d/stat", pid, tid);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n <= 0) return false;
  buf[n] = 0;
  ProcStat stat;
  return parse_stat(buf, static_cast<size_t>(n), stat) && stat.state != 'Z' && stat.state != 'X';
}

void LiveTasks::follow(pid_t pid) {
  for (pid_t tid : threads_of(pid)) live_[pid].insert(tid);
}

void LiveTasks::track(bool fork, pid_t pid, pid_t ppid, pid_t tid) {
  if (fork) {
    // A new process (pid != ppid) is followed only with inherit; a new
    // thread of a followed process always is.
    if (pid != ppid ? follow_children_ : live_.count(pid) > 0) live_[pid].insert(tid);
    return;
  }
  auto it = live_.find(pid);
  if (it == live_.end()) return;
  it->second.erase(tid);
  if (it->second.empty()) live_.erase(it);
}

void LiveTasks::prune() {
  for (auto it = live_.begin(); it != live_.end();) {
    auto& threads = it->second;
    for (auto t = threads.begin(); t != threads.end();) t = thread_running(it->first, *t) ? std::next(t) : threads.erase(t);
    it = threads.empty() ? live_.erase(it) : std::next(it);
  }
}

std::vector<pid_t> LiveTasks::pids() const {
  std::vector<pid_t> pids;
  for (const auto& [pid, threads] : live_) pids.push_back(pid);
  return pids;
}

}  // namespace sideband
