// The ordering queue: records from every ring and from /proc go in, and
// come out in timestamp order once nothing earlier can still arrive, as
// perf orders by FINISHED_ROUND; a /proc status record waits until its
// read window has settled, and is marked stale if a real record raced it.
// What comes out is gathered into batches for the consumer.
#pragma once

#include <cstddef>
#include <cstdint>
#include <unordered_map>
#include <vector>

#include "proc_status.h"

namespace sideband {

struct CaptureStats;

class OrderingQueue {
 public:
  // Counts every record it lets out in stats.records.
  explicit OrderingQueue(CaptureStats& stats) : stats_(stats) {}

  void push(const uint8_t* rec, uint16_t size, uint64_t time);
  // The records of one /proc read of a process, which wait for its window.
  void push_window(const ProcWindow& read, std::vector<uint8_t>& records);
  // A real record of process `pid` at `time`, inside a /proc read window of
  // it: the status read may describe the process before or after it.
  void mark_races(uint32_t pid, uint64_t time);
  // Lets out, into the batch, every record stamped up to threshold.
  void flush(uint64_t threshold);
  // The batch, now, or once it is large or old enough; else nothing.
  std::vector<uint8_t> take_batch(bool now);
  // A batch taken and done with: its buffer is kept for the next one.
  void give_back(std::vector<uint8_t>&& batch);
  // Whether records wait, to settle or to be taken.
  bool waiting() const { return head_ < pending_.size() || !batch_.empty(); }

 private:
  struct Entry {
    uint64_t time, seq;
    uint32_t offset;
    uint16_t size;
    int32_t window;  // index into windows_ for /proc status records, else -1
  };
  struct Window {
    uint32_t pid;
    uint64_t start, end;
    bool raced = false;
    size_t pending = 0;
  };

  void push_entry(const uint8_t* rec, uint16_t size, uint64_t time, int32_t window);

  CaptureStats& stats_;
  // Records read but not yet sent, in time order from head_; their bytes in
  // arena_. Entries from sorted_ on arrived in this round, still unsorted.
  std::vector<uint8_t> arena_, spare_arena_;
  std::vector<Entry> pending_;
  size_t head_ = 0, sorted_ = 0;
  uint64_t seq_ = 0;
  std::unordered_map<int32_t, Window> windows_;
  int32_t next_window_ = 0;
  std::vector<uint8_t> batch_;
  uint64_t batch_since_ = 0;  // when the unsent batch was first offered
};

}  // namespace sideband
