// Losses: every record a ring could not hold is counted in the stats and
// said in the stream, by the kernel's own LOST records or, where the
// kernel wrote none (a ring still full when its tasks exit, a ring broken
// by a record that cannot be), by a LOST record of ours.
#pragma once

#include <cstdint>

#include "ring.h"

namespace sideband {

struct CaptureStats;
class CaptureListener;
class EventSet;
class OrderingQueue;

class Losses {
 public:
  Losses(const EventSet& events, OrderingQueue& queue, CaptureStats& stats, CaptureListener& listener);
  Losses(const Losses&) = delete;
  Losses& operator=(const Losses&) = delete;

  // A LOST record of the kernel's, from any ring: it goes into the stream
  // as it is, and this counts it.
  void count_kernel_lost(const uint8_t* record);
  // A record of a size that cannot be: the ring's bytes from it to its head
  // are gone (Ring::drain). Said, and counted as lost where losses are, so
  // the timeline and the stats show the gap; the ring goes on. cpu -1 is
  // the ioctl event's ring.
  void ring_fault(int cpu, const RingFault& fault);
  // A ring still full when its tasks exit never gets its LOST record. The
  // events' own lost counts do; what they exceed the LOST records by goes
  // out as one more LOST record, so no loss goes unsaid.
  void report_unwritten();

 private:
  void push_lost(uint64_t lost, uint32_t cpu);

  const EventSet& events_;
  OrderingQueue& queue_;
  CaptureStats& stats_;
  CaptureListener& listener_;
  uint64_t kernel_lost_ = 0;  // what the kernel's own LOST records counted
};

}  // namespace sideband
