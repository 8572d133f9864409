// libFuzzer target: the ring record walk (Ring::drain) and what a capture
// does with each record it hands over (Capture::ingest's reads of the
// header, sample_id and body, then the ordering queue), over ring bytes the
// fuzzer writes in chunks as the kernel would, across the ring's end.
#include <fuzzer/FuzzedDataProvider.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "../core/abi.h"
#include "../core/capture.h"
#include "../core/ordering_queue.h"
#include "../core/record_layout.h"
#include "../core/ring.h"

using namespace sideband;

namespace {

[[noreturn]] void broken(const char* what) {
  fprintf(stderr, "ring_fuzz: %s\n", what);
  abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  FuzzedDataProvider input(data, size);
  const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  const size_t pages = input.ConsumeBool() ? 2 : 1;
  const size_t ring_bytes = pages * page;
  // One mapping for every input: a map and unmap per input cost more than the input.
  static void* const memory = mmap(nullptr, 3 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (memory == MAP_FAILED) broken("mmap failed");
  memset(memory, 0, 3 * page);
  auto* control = static_cast<perf_event_mmap_page*>(memory);
  uint8_t* ring_data = static_cast<uint8_t*>(memory) + page;
  // The stream starts anywhere, so records meet the end at every offset.
  uint64_t head = input.ConsumeIntegral<uint16_t>() * uint64_t{8};
  control->data_head = control->data_tail = head;
  {
    Ring ring(memory, pages);
    // One queue for every input, as one capture keeps one: its batch buffer
    // (512 KiB) is allocated once. Each input leaves it empty.
    static CaptureStats stats;
    static OrderingQueue queue(stats);
    stats = {};
    const uint64_t start = head;
    uint64_t visited = 0, dropped = 0, pushed = 0;
    while (input.remaining_bytes() > 0) {
      // The kernel writes only into what the reader has freed.
      const size_t room = ring_bytes - static_cast<size_t>(head - control->data_tail);
      const std::vector<uint8_t> chunk = input.ConsumeBytes<uint8_t>(input.ConsumeIntegralInRange<size_t>(0, room));
      for (size_t i = 0; i < chunk.size(); ++i) ring_data[(head + i) % ring_bytes] = chunk[i];
      head += chunk.size();
      control->data_head = head;
      const uint64_t tail_before = control->data_tail;
      ring.drain(
          [&](const uint8_t* rec, uint16_t rec_size) {
            const perf_event_header h = read_header(rec);
            if (h.size != rec_size) broken("a record handed over with a size not its header's");
            visited += rec_size;
            if (rec_size < sizeof h + kTrailerSize) return;  // as Capture::ingest
            const SampleId s = sample_id_of(rec, rec_size);
            if (h.type == PERF_RECORD_LOST) {
              (void)read_field<uint64_t>(rec, body_layout(h.type).lost);
            } else if (!(h.misc & kMiscStatusOnly)) {
              const RecordTask task = record_task(rec, rec_size);
              queue.mark_races(task.pid, s.time);
              if (h.type == PERF_RECORD_FORK || h.type == PERF_RECORD_EXIT)
                (void)read_field<uint32_t>(rec, body_layout(h.type).ppid);
            }
            queue.push(rec, rec_size, s.time);
            ++pushed;
          },
          [&](const RingFault& f) {
            if (f.offset < tail_before || f.offset + f.dropped != head) broken("a fault that does not reach the head");
            dropped += f.dropped;
          });
      // Whole records are read, or dropped to the head: at most a torn header is left.
      if (head - control->data_tail >= 8) broken("whole records left unread");
      if (control->data_tail - tail_before > head - tail_before) broken("the tail passed the head");
      queue.flush(UINT64_MAX);
      std::vector<uint8_t> batch = queue.take_batch(true);
      // What comes out is whole records (for_each_record throws otherwise), and all of them.
      for_each_record(batch.data(), batch.size(), [](uint8_t*, uint16_t) {});
      queue.give_back(std::move(batch));
      if (stats.records != pushed) broken("records pushed but not let out");
    }
    if (visited + dropped != control->data_tail - start) broken("ring bytes neither read nor reported dropped");
  }
  return 0;
}
