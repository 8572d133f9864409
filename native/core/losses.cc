// Losses: what the rings could not hold, counted and said in the stream.
#include "losses.h"

#include <linux/perf_event.h>

#include <cstddef>
#include <string>

#include "abi.h"
#include "capture.h"
#include "event_set.h"
#include "ordering_queue.h"
#include "proc_status.h"

namespace sideband {

namespace {

// The smallest record a dummy event writes (a LOST, or a COMM with a short
// name): a header, 16 bytes of body and the sample_id trailer. Bytes dropped
// from a ring held at most one record per this many of them.
constexpr uint64_t kSmallestRecord = sizeof(perf_event_header) + 16 + kTrailerSize;

}  // namespace

Losses::Losses(const EventSet& events, OrderingQueue& queue, CaptureStats& stats, CaptureListener& listener)
    : events_(events), queue_(queue), stats_(stats), listener_(listener) {}

void Losses::count_kernel_lost(const uint8_t* record) {
  const uint64_t lost = read_field<uint64_t>(record, body_layout(PERF_RECORD_LOST).lost);
  kernel_lost_ += lost;
  stats_.lost += lost;
  ++stats_.lost_records;
}

void Losses::report_unwritten() {
  const std::optional<uint64_t> counted = events_.lost();
  if (!counted || *counted <= kernel_lost_) return;
  push_lost(*counted - kernel_lost_, 0);
  kernel_lost_ = *counted;
}

void Losses::ring_fault(int cpu, const RingFault& fault) {
  const uint64_t lost = (fault.dropped + kSmallestRecord - 1) / kSmallestRecord;
  const std::string ring = cpu >= 0 ? "the ring of CPU " + std::to_string(cpu) : "the ring of the ioctl event";
  listener_.warning("ERINGFAULT", ring + " held a record claiming " + std::to_string(fault.size) + " bytes at byte " +
                                      std::to_string(fault.offset) + ", which no record can: the " +
                                      std::to_string(fault.dropped) +
                                      " bytes from it to what the kernel had written were dropped, counted as up "
                                      "to " + std::to_string(lost) +
                                      " lost records; the capture goes on. Fix: report it with the kernel version "
                                      "(`uname -r`): the kernel, or something else writing into the ring, broke it.");
  push_lost(lost, cpu >= 0 ? static_cast<uint32_t>(cpu) : 0);
}

// One LOST record of our own, in the layout of the kernel's.
void Losses::push_lost(uint64_t lost, uint32_t cpu) {
  struct {
    perf_event_header header;
    uint64_t id, lost;
    SampleId sample;
  } rec{};
  static_assert(offsetof(decltype(rec), lost) == body_layout(PERF_RECORD_LOST).lost);
  static_assert(offsetof(decltype(rec), sample) == sizeof rec - kTrailerSize);
  rec.header = {PERF_RECORD_LOST, 0, sizeof rec};
  rec.id = events_.ids().empty() ? 0 : events_.ids().front();
  rec.lost = lost;
  const uint32_t target = static_cast<uint32_t>(events_.target());
  rec.sample = {target, target, monotonic_ns(), cpu, 0, rec.id};
  stats_.lost += lost;
  ++stats_.lost_records;
  queue_.push(reinterpret_cast<const uint8_t*>(&rec), sizeof rec, rec.sample.time);
}

}  // namespace sideband
