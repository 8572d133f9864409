// The reader thread of a capture: attach, snapshots, rounds, stop.
#include "capture.h"

#include <linux/perf_event.h>
#include <poll.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <utility>

#include "abi.h"
#include "proc_status.h"

namespace sideband {

namespace {

// How long the reader sleeps with nothing waiting: the rings wake it when
// records come, so this only paces the liveness checks.
constexpr int kIdleMs = 100;
// How long it sleeps while records wait to settle, or their file end to be told.
constexpr int kWaitingMs = 2;
// The file's new end is told at most this often: a storm costs the front
// end's thread a few calls a second, a trickle waits no more than this.
constexpr uint64_t kWrittenNs = 5'000'000;
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
      // Sleep until a ring has data: each wakes its reader at its first
      // record (event_set.cc), so a trickle is read at once, and a storm,
      // which finds the reader awake, costs no wake-ups.
      poll(fds.data(), fds.size(), poll_timeout_ms());
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
  } catch (const Error& e) {
    // The file refused the last records (no space left): said, unless a failure was already.
    if (stop.reason != "failed") {
      stop.reason = "failed";
      listener_->failed(e);
    }
  } catch (const std::exception&) {
  }
  events_.release();
  file_.close();  // the front end finishes it: the fd must not outlive the capture
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

  status_ = std::make_unique<StatusEmitter>(options_.emit, events_, queue_, stats_, *listener_, [this] { round(); });
  const AttachInfo info = events_.attach_info();
  if (!options_.output.empty()) file_.open(options_.output, info, options_.output_fd);
  listener_->attached(info);
}

void Capture::snapshot(bool first) {
  SnapshotInfo info;
  info.index = snapshot_index_++;
  info.start = monotonic_ns();
  const uint64_t ioctl_before = stats_.ioctl_records;
  for (pid_t pid : tasks_.pids()) {
    if (!status_->emit(pid, info)) continue;
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
  if (size < sizeof h + kTrailerSize) return;  // every kernel record here has a sample_id
  const SampleId s = sample_id_of(rec, size);
  if (h.type == PERF_RECORD_LOST) {
    // In the ioctl ring too: a status burst larger than the ring loses
    // records there, and that must not go unsaid.
    losses_.count_kernel_lost(rec);
  } else if (from_ioctl_ring) {
    // That ring also watches the reader thread itself; only status counts.
    if (!(h.misc & kMiscStatusOnly)) return;
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
  if (!file_.is_open()) {
    std::vector<uint8_t> batch = queue_.take_batch(now);
    if (!batch.empty()) listener_->records(std::move(batch), stats_);
    return;
  }
  // The file takes every record that has settled, at once: batching only
  // saves write calls, and a reader of the file should not wait for them.
  std::vector<uint8_t> batch = queue_.take_batch(true);
  if (!batch.empty()) {
    try {
      file_.append(batch);
    } catch (const Error&) {
      file_.close();  // nothing more is written after a failed write: the file ends at a whole record
      tell_written(true);
      throw;
    }
  }
  queue_.give_back(std::move(batch));
  tell_written(now);
}

void Capture::tell_written(bool now) {
  const uint64_t end = file_.data_end(), t = monotonic_ns();
  if (end == told_end_ || (!now && t - told_at_ < kWrittenNs)) return;
  told_end_ = end;
  told_at_ = t;
  listener_->written(end, stats_);
}

int Capture::poll_timeout_ms() const {
  const bool untold = file_.is_open() && file_.data_end() != told_end_;
  return untold || queue_.waiting() ? kWaitingMs : kIdleMs;
}

void Capture::check_liveness() {
  const uint64_t now = monotonic_ns();
  if (now - last_liveness_ < kLivenessNs) return;
  last_liveness_ = now;
  launcher_.reap();
  tasks_.prune();
}

}  // namespace sideband
