// A capture through the engine, from attach until the caller's actions
// have settled, its records parsed.
#include "engine_run.h"

#include <unistd.h>

namespace sideband::kernel_check {

std::unique_ptr<Run> capture(pid_t pid, bool try_ioctl, size_t ring_pages, const std::function<void()>& after) {
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

}  // namespace sideband::kernel_check
