// A capture through the engine (native/core's Capture, as the extension
// runs it), with everything it reported collected for the checks.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "../../core/capture.h"
#include "records.h"

namespace sideband::kernel_check {

// Keeps whatever the engine reports, from its reader thread, for the checks
// to read once the capture has stopped.
class Collector : public CaptureListener {
 public:
  void attached(const AttachInfo& info) override {
    std::lock_guard<std::mutex> l(m_);
    info_ = info;
  }
  void records(std::vector<uint8_t>&& batch, const CaptureStats& stats) override {
    std::lock_guard<std::mutex> l(m_);
    bytes_.insert(bytes_.end(), batch.begin(), batch.end());
    stats_ = stats;
  }
  void snapshot(const SnapshotInfo& info) override {
    std::lock_guard<std::mutex> l(m_);
    snapshots_.push_back(info);
    cv_.notify_all();
  }
  void warning(const std::string& code, const std::string& message) override {
    std::lock_guard<std::mutex> l(m_);
    warnings_.push_back(code + ": " + message);
  }
  void failed(const Error& e) override {
    std::lock_guard<std::mutex> l(m_);
    error_ = e.code() + ": " + e.what();
    cv_.notify_all();
  }
  void stopped(const StopInfo& s) override {
    std::lock_guard<std::mutex> l(m_);
    stop_ = s;
    cv_.notify_all();
  }
  bool wait_snapshot(int seconds) {
    std::unique_lock<std::mutex> l(m_);
    return cv_.wait_for(l, std::chrono::seconds(seconds), [&] { return !snapshots_.empty() || !error_.empty(); }) &&
           !snapshots_.empty();
  }

  std::mutex m_;
  std::condition_variable cv_;
  AttachInfo info_;
  std::vector<uint8_t> bytes_;
  CaptureStats stats_;
  std::vector<SnapshotInfo> snapshots_;
  std::vector<std::string> warnings_;
  std::string error_;
  StopInfo stop_;
};

// One capture: its reports, and its records parsed.
struct Run {
  Collector c;
  std::vector<Rec> recs;
  bool parsed = false;
  std::string parse_error;
};

// Captures `pid` from attach until `after` has run and settled.
std::unique_ptr<Run> capture(pid_t pid, bool try_ioctl, size_t ring_pages, const std::function<void()>& after);

}  // namespace sideband::kernel_check
