// sideband-core: the capture engine with no Node, as one static program.
//
//   sideband-core [--no-ioctl] [--ring-pages N] (--pid PID | -- CMD [ARGS...])
//
// Prints one line per record (type, pid/tid, time, status/provenance) and
// one per engine event, then a summary. It is the same core the addon runs,
// so it can be booted in a minimal kernel of ours to test the ioctl path.
#include <signal.h>
#include <unistd.h>

#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "../core/abi.h"
#include "../core/capture.h"

using namespace sideband;

namespace {

Capture* running = nullptr;

void on_signal(int sig) {
  if (!running) return;
  if (sig == SIGUSR1) running->request_snapshot();
  else running->request_stop();
}

class Printer : public CaptureListener {
 public:
  void attached(const AttachInfo& info) override {
    printf("attached pid=%d cpus=%zu ring_pages=%zu namespaces=%d ioctl_id=%" PRIu64 "\n", info.pid, info.cpus.size(),
           info.ring_pages, info.namespaces, info.ioctl_id);
    ioctl_id_ = info.ioctl_id;
  }
  void records(std::vector<uint8_t>&& batch, const CaptureStats&) override {
    for (size_t at = 0; at + sizeof(perf_event_header) <= batch.size();) {
      const perf_event_header h = read_header(batch.data() + at);
      if (h.size < sizeof h) break;
      if (h.type >= 64) {
        printf("record %u\n", h.type);
      } else {
        const SampleId s = sample_id_of(batch.data() + at, h.size);
        const RecordTask task = record_task(batch.data() + at, h.size);
        const char* origin = !(h.misc & kMiscStatusOnly) ? "real" : is_proc_id(s.id) ? "proc" : s.id == ioctl_id_ ? "ioctl" : "status";
        printf("record %u pid=%u tid=%u time=%" PRIu64 " %s%s\n", h.type, task.pid, task.tid, s.time, origin,
               is_proc_id(s.id) && (s.id & kStaleMask) ? " stale" : "");
      }
      at += h.size;
    }
    fflush(stdout);
  }
  void snapshot(const SnapshotInfo& s) override {
    printf("snapshot index=%u path=%s processes=%zu records=%zu stale=%zu\n", s.index, status_path_name(s.path),
           s.processes, s.records, s.stale);
    fflush(stdout);
  }
  void warning(const std::string& code, const std::string& message) override {
    fprintf(stderr, "warning %s: %s\n", code.c_str(), message.c_str());
  }
  void failed(const Error& e) override {
    fprintf(stderr, "error %s: %s\n", e.code().c_str(), e.what());
    failed_ = true;
  }
  void stopped(const StopInfo& s) override {
    printf("stopped reason=%s records=%" PRIu64 " status=%" PRIu64 " ioctl=%" PRIu64 " proc=%" PRIu64 " lost=%" PRIu64 "\n",
           s.reason.c_str(), s.stats.records, s.stats.status_records, s.stats.ioctl_records, s.stats.proc_records,
           s.stats.lost);
  }
  bool failed_ = false;

 private:
  uint64_t ioctl_id_ = 0;
};

int usage() {
  fprintf(stderr, "usage: sideband-core [--no-ioctl] [--ring-pages N] (--pid PID | -- CMD [ARGS...])\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  CaptureOptions options;
  for (int i = 1; i < argc; ++i) {
    if (!strcmp(argv[i], "--no-ioctl")) options.try_ioctl = false;
    else if (!strcmp(argv[i], "--ring-pages") && i + 1 < argc) options.ring_pages = strtoul(argv[++i], nullptr, 10);
    else if (!strcmp(argv[i], "--pid") && i + 1 < argc) options.pid = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--")) {
      for (++i; i < argc; ++i) options.command.push_back(argv[i]);
    } else return usage();
  }
  if ((options.pid > 0) == !options.command.empty()) return usage();
  Printer printer;
  Capture capture(options, &printer);
  running = &capture;
  signal(SIGINT, on_signal);
  signal(SIGTERM, on_signal);
  signal(SIGUSR1, on_signal);
  capture.start();
  capture.join();
  running = nullptr;
  return printer.failed_ ? 1 : 0;
}
