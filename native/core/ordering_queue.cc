// The ordering queue: records in, in timestamp order out, in batches.
#include "ordering_queue.h"

#include <algorithm>
#include <stdexcept>
#include <utility>

#include "abi.h"
#include "capture.h"

namespace sideband {

namespace {

// Batches for the consumer: large enough that Node's main thread wakes
// about a hundred times a second under load, not every round.
constexpr size_t kBatchBytes = 256 * 1024;
constexpr uint64_t kBatchAgeNs = 10'000'000;

}  // namespace

void OrderingQueue::push(const uint8_t* rec, uint16_t size, uint64_t time) { push_entry(rec, size, time, -1); }

void OrderingQueue::push_window(const ProcWindow& read, std::vector<uint8_t>& records) {
  const int32_t window = next_window_++;
  size_t pushed = 0;
  for_each_record(records.data(), records.size(), [&](uint8_t* rec, uint16_t size) {
    push_entry(rec, size, read_trailer(rec, size).time, window);
    ++pushed;
  });
  windows_[window] = Window{read.pid, read.start, read.end, false, pushed};
}

void OrderingQueue::mark_races(uint32_t pid, uint64_t time) {
  for (auto& [index, w] : windows_)
    if (w.pid == pid && time >= w.start && time <= w.end) w.raced = true;
}

void OrderingQueue::push_entry(const uint8_t* rec, uint16_t size, uint64_t time, int32_t window) {
  const uint32_t offset = static_cast<uint32_t>(arena_.size());
  arena_.insert(arena_.end(), rec, rec + size);
  pending_.push_back(Entry{time, seq_++, offset, size, window});
}

void OrderingQueue::flush(uint64_t threshold) {
  if (head_ == pending_.size()) return;
  auto by_time = [](const Entry& a, const Entry& b) { return a.time != b.time ? a.time < b.time : a.seq < b.seq; };
  // Rings are nearly sorted already: sort what arrived, and merge only when
  // it does not simply follow what was waiting (the common case).
  const auto first = pending_.begin() + static_cast<ptrdiff_t>(head_);
  const auto arrived = pending_.begin() + static_cast<ptrdiff_t>(sorted_);
  std::sort(arrived, pending_.end(), by_time);
  if (arrived != first && arrived != pending_.end() && by_time(*arrived, *(arrived - 1)))
    std::inplace_merge(first, arrived, pending_.end(), by_time);
  sorted_ = pending_.size();
  // A /proc status record waits until its whole read window is settled:
  // a real record racing with it must be seen first, to mark it stale.
  while (head_ < pending_.size()) {
    const Entry& e = pending_[head_];
    if (e.time > threshold) break;
    uint8_t* rec = arena_.data() + e.offset;
    if (e.window >= 0) {
      // Every record of a window was counted as pushed: it is there until its last one goes.
      auto w = windows_.find(e.window);
      if (w == windows_.end()) throw std::logic_error("a /proc status record outlived its read window");
      if (w->second.end > threshold) break;
      if (w->second.raced) write_trailer_id(rec, e.size, read_trailer(rec, e.size).id | kStaleRace);
      if (--w->second.pending == 0) windows_.erase(w);
    }
    if (batch_.capacity() == 0) batch_.reserve(2 * kBatchBytes);
    batch_.insert(batch_.end(), rec, rec + e.size);
    ++stats_.records;
    ++head_;
  }
  // Drop what went out once it is most of the queue: amortized, and the
  // buffers keep their capacity, so a busy reader does not allocate.
  if (head_ == pending_.size()) {
    pending_.clear();
    arena_.clear();
    head_ = sorted_ = 0;
  } else if (head_ > 4096 && head_ * 2 > pending_.size()) {
    spare_arena_.clear();
    for (size_t i = head_; i < pending_.size(); ++i) {
      Entry& e = pending_[i];
      const uint8_t* rec = arena_.data() + e.offset;
      e.offset = static_cast<uint32_t>(spare_arena_.size());
      spare_arena_.insert(spare_arena_.end(), rec, rec + e.size);
    }
    arena_.swap(spare_arena_);
    pending_.erase(pending_.begin(), pending_.begin() + static_cast<ptrdiff_t>(head_));
    head_ = 0;
    sorted_ = pending_.size();
  }
}

std::vector<uint8_t> OrderingQueue::take_batch(bool now) {
  if (batch_.empty()) return {};
  const uint64_t t = monotonic_ns();
  if (batch_since_ == 0) batch_since_ = t;
  if (!now && batch_.size() < kBatchBytes && t - batch_since_ < kBatchAgeNs) return {};
  batch_since_ = 0;
  return std::exchange(batch_, {});
}

void OrderingQueue::give_back(std::vector<uint8_t>&& batch) {
  if (!batch_.empty() || batch.capacity() == 0) return;
  batch.clear();
  batch_ = std::move(batch);
}

}  // namespace sideband
