#include "capture.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/perf_event.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "abi.h"

namespace sideband {

namespace {

// How long the reader sleeps when the rings are empty: bounds live latency.
constexpr int kRoundMs = 20;
// A record is in its ring within microseconds of its timestamp (the kernel
// writes sideband with preemption off right after taking the time); one
// stamped longer than this before a drain began has certainly been drained.
constexpr uint64_t kSettleNs = 1'000'000;
constexpr uint64_t kLivenessNs = 250'000'000;

}  // namespace

const char* status_path_name(StatusPath p) {
  switch (p) {
    case StatusPath::Ioctl: return "ioctl";
    case StatusPath::Proc: return "proc";
    case StatusPath::None: break;
  }
  return "none";
}

Capture::Capture(CaptureOptions options, CaptureListener* listener)
    : options_(std::move(options)),
      listener_(listener),
      launcher_(options_.command, *listener),
      tasks_(options_.follow_children),
      events_(*listener),
      queue_(stats_),
      losses_(events_, queue_, stats_, *listener) {
  wake_fd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
}

Capture::~Capture() {
  request_stop();
  join();
  if (wake_fd_ >= 0) close(wake_fd_);  // a capture never started; run() closes its own
}

void Capture::start() { thread_ = std::thread([this] { run(); }); }

void Capture::join() {
  if (thread_.joinable()) thread_.join();
}

void Capture::request_snapshot() {
  snapshots_requested_.fetch_add(1);
  wake();
}

void Capture::request_stop(bool force) {
  if (force) force_stop_.store(true);
  stop_requested_.store(true);
  wake();
}

// Callers may ask after the reader has stopped and closed the fd (whose
// number may already be another's): the lock keeps the write off it.
void Capture::wake() {
  std::lock_guard<std::mutex> lock(wake_mutex_);
  uint64_t one = 1;
  if (wake_fd_ >= 0) (void)!write(wake_fd_, &one, sizeof one);
}

void Capture::run() {
  StopInfo stop;
  try {
    attach();
    snapshot(true);
    launcher_.release();
    std::vector<pollfd> fds;
    for (int fd : events_.ring_fds()) fds.push_back({fd, POLLIN, 0});
    fds.push_back({wake_fd_, POLLIN, 0});
    while (!stop_requested_.load()) {
      // Sleep until the kernel wakes us at half a ring, as perf record does.
      // Spinning while records flow measured worse: the scheduler then
      // treats the reader as a hog, and Node's thread preempts it for a
      // whole slice, long enough to overflow a small ring.
      poll(fds.data(), fds.size(), kRoundMs);
      // A hung-up ring (its task and all inherited children gone) would
      // make poll return at once forever; it is still drained every round.
      for (auto& p : fds)
        if (p.revents & (POLLHUP | POLLERR)) p.fd = -1;
      uint64_t wakes;
      (void)!read(wake_fd_, &wakes, sizeof wakes);
      round();
      send(false);
      if (snapshots_requested_.exchange(0) > 0 && !tasks_.empty()) snapshot(false);
      check_liveness();
      if (tasks_.empty()) break;
    }
    stop.reason = stop_requested_.load() ? "requested" : "exited";
  } catch (const Error& e) {
    stop.reason = "failed";
    listener_->failed(e);
  } catch (const std::exception& e) {
    stop.reason = "failed";
    listener_->failed(Error("EINTERNAL", std::string("internal error in the capture engine: ") + e.what() +
                                             ". Fix: report it with the command that caused it."));
  }
  // Whatever happened, deliver every record already read: nothing is lost.
  // One last drain once all in flight has settled, then flush everything.
  try {
    if (events_.opened()) {
      struct timespec settle{0, static_cast<long>(kSettleNs)};
      nanosleep(&settle, nullptr);
      round();
    }
    losses_.report_unwritten();
    queue_.flush(UINT64_MAX);
    send(true);
  } catch (const std::exception&) {
  }
  events_.release();
  launcher_.end(stop.reason == "exited", wake_fd_, force_stop_);
  {
    std::lock_guard<std::mutex> lock(wake_mutex_);
    close(wake_fd_);
    wake_fd_ = -1;
  }
  stop.exit_status = launcher_.exit_status();
  stop.stats = stats_;
  listener_->stopped(stop);
}

void Capture::attach() {
  pid_t target;
  if (!options_.command.empty()) {
    target = launcher_.launch();
  } else {
    target = options_.pid;
    if (target <= 0 || (kill(target, 0) != 0 && errno == ESRCH))
      throw Error("ENOPID", "process " + std::to_string(target) + " does not exist. Fix: check the pid with `ps -p " +
                                std::to_string(target) + "`.");
  }
  tasks_.follow(target);

  events_.open(target, options_);
  // Without CAP_PERFMON the events watch no namespaces: status leaves them out too.
  if (!events_.attr().namespaces) options_.emit &= ~kEmitNamespaces;

  proc_ = std::make_unique<ProcStatusReader>(options_.emit);
  listener_->attached(events_.attach_info());
}

void Capture::snapshot(bool first) {
  SnapshotInfo info;
  info.index = snapshot_index_++;
  info.start = monotonic_ns();
  const uint64_t ioctl_before = stats_.ioctl_records;
  for (pid_t pid : tasks_.pids()) {
    if (!emit_by_ioctl(pid, info)) {
      scratch_.clear();
      ProcWindow w = proc_->read_process(static_cast<uint32_t>(pid), scratch_);
      if (info.path == StatusPath::None) info.path = StatusPath::Proc;
      if (w.gone) {
        ++info.gone;
        continue;
      }
      if (w.records == 0) continue;
      queue_.push_window(w, scratch_);
      info.records += w.records;
      info.stale += w.stale ? w.records : 0;
      stats_.proc_records += w.records;
      stats_.status_records += w.records;
    }
    ++info.processes;
    round();  // keep up with the kernel between processes
    send(false);
  }
  info.end = monotonic_ns();
  info.records += stats_.ioctl_records - ioctl_before;
  if (first) {
    // As perf record does: readers know that the initial state is complete.
    perf_event_header init{kRecordFinishedInit, 0, sizeof(perf_event_header)};
    queue_.push(reinterpret_cast<const uint8_t*>(&init), sizeof init, info.end);
  }
  // One more round, once the snapshot has settled, puts every status record
  // and any real record racing with it into the stream before it is announced.
  struct timespec settle{0, static_cast<long>(kSettleNs)};
  nanosleep(&settle, nullptr);
  round();
  send(true);
  listener_->snapshot(info);
}

// The kernel lacks the ioctl: its event and ring go, and /proc takes over
// for the rest of the capture.
void Capture::drop_ioctl_event() {
  ioctl_state_ = IoctlState::Missing;
  events_.drop_ioctl_event();
}

// Returns false when the /proc path must do the work for this pid.
bool Capture::emit_by_ioctl(pid_t pid, SnapshotInfo& info) {
  if (ioctl_state_ == IoctlState::Missing || !events_.has_ioctl_event()) return false;
  const std::vector<pid_t> tids = threads_of(pid);
  for (pid_t tid : tids) {
    // As the /proc path: per thread what was asked of FORK, NAMESPACES and
    // COMM, and the process's mappings once, with its leader.
    uint32_t flags = options_.emit & (kEmitFork | kEmitNamespaces | kEmitComm);
    if (tid == pid) flags |= options_.emit & kEmitMmap;
    if (flags == 0) continue;
    if (const int err = events_.emit_sideband(static_cast<uint32_t>(tid), flags)) {
      if (ioctl_state_ == IoctlState::Unknown && (err == ENOTTY || err == EINVAL)) {
        drop_ioctl_event();
        return false;
      }
      if (err == ESRCH) continue;  // that thread exited: it has no status left to tell
      throw Error("EIOCTL", std::string("PERF_EVENT_IOC_EMIT_SIDEBAND failed: ") + strerror(err) +
                                ". Fix: capture with --no-ioctl to use the /proc path.");
    }
    if (ioctl_state_ == IoctlState::Unknown) {
      // Other unmerged series claimed the same number: success alone proves
      // nothing until STATUS_ONLY records actually arrive.
      const size_t before = ioctl_seen_;
      round();
      if (ioctl_seen_ == before) {
        drop_ioctl_event();
        listener_->warning("EIOCTLCLAIMED",
                           "the kernel accepted ioctl 0x4008240C but sent no STATUS_ONLY records (another patch "
                           "may use that number); status comes from /proc instead.");
        return false;
      }
      ioctl_state_ = IoctlState::Works;
    }
  }
  info.path = StatusPath::Ioctl;
  return true;
}

void Capture::round() {
  const uint64_t start = monotonic_ns();
  events_.drain([this](const uint8_t* rec, uint16_t size, bool from_ioctl_ring) { ingest(rec, size, from_ioctl_ring); },
                [this](int cpu, const RingFault& f) { losses_.ring_fault(cpu, f); });
  // Everything stamped before start - kSettleNs is drained by now; later
  // records may still be in flight on another CPU, so they wait.
  if (start > kSettleNs) queue_.flush(start - kSettleNs);
}

void Capture::ingest(const uint8_t* rec, uint16_t size, bool from_ioctl_ring) {
  const perf_event_header h = read_header(rec);
  if (size < sizeof h + kTrailerSize) return;  // every kernel record here has a trailer
  const SampleId s = read_trailer(rec, size);
  if (h.type == PERF_RECORD_LOST) {
    // In the ioctl ring too: a status burst larger than the ring loses
    // records there, and that must not go unsaid.
    losses_.count_kernel_lost(rec);
  } else if (from_ioctl_ring) {
    // That ring also watches the reader thread itself; only status counts.
    if (!(h.misc & kMiscStatusOnly)) return;
    ++ioctl_seen_;
    ++stats_.ioctl_records;
    ++stats_.status_records;
  } else if (!(h.misc & kMiscStatusOnly)) {
    const RecordTask task = record_task(rec, size);
    queue_.mark_races(task.pid, s.time);
    if (h.type == PERF_RECORD_FORK || h.type == PERF_RECORD_EXIT) {
      const uint32_t ppid = read_field<uint32_t>(rec, body_layout(h.type).ppid);
      tasks_.track(h.type == PERF_RECORD_FORK, static_cast<pid_t>(task.pid), static_cast<pid_t>(ppid),
                   static_cast<pid_t>(task.tid));
    }
  }
  queue_.push(rec, size, s.time);
}

void Capture::send(bool now) {
  std::vector<uint8_t> batch = queue_.take_batch(now);
  if (!batch.empty()) listener_->records(std::move(batch), stats_);
}

void Capture::check_liveness() {
  const uint64_t now = monotonic_ns();
  if (now - last_liveness_ < kLivenessNs) return;
  last_liveness_ = now;
  launcher_.reap();
  tasks_.prune();
}

}  // namespace sideband
