// kernel-check's records: splitting a stream, refusing what is malformed.
#include "records.h"

#include <linux/perf_event.h>

namespace sideband::kernel_check {

bool parse(const std::vector<uint8_t>& buf, std::vector<Rec>& out, std::string* why) {
  for (size_t at = 0; at < buf.size();) {
    if (buf.size() - at < sizeof(perf_event_header)) {
      if (why) *why = "torn header at " + std::to_string(at);
      return false;
    }
    perf_event_header h = read_header(buf.data() + at);
    const bool user = h.type >= 64;
    if (h.size < sizeof h || h.size % 8 || h.size > buf.size() - at || (!user && h.size < sizeof h + kTrailerSize) ||
        (!user && (h.type == 0 || h.type > PERF_RECORD_MAX))) {
      if (why) *why = "bad record type " + std::to_string(h.type) + " size " + std::to_string(h.size) + " at " + std::to_string(at);
      return false;
    }
    Rec r{h.type, h.misc, std::vector<uint8_t>(buf.begin() + at, buf.begin() + at + h.size), {}};
    if (!user) r.s = sample_id_of(buf.data() + at, h.size);
    out.push_back(std::move(r));
    at += h.size;
  }
  return true;
}

}  // namespace sideband::kernel_check
