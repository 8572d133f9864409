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

  status_ = std::make_unique<StatusEmitter>(options_.emit, events_, queue_, stats_, *listener_, [this] { round(); });
  listener_->attached(events_.attach_info());
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
