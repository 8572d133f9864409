// libFuzzer target: a hostile ELF file handed to the symbols addon's core
// (DwarfModule): its headers, notes, sections, symbol tables and DWARF, as
// the main file and as its own debug file. Any bytes are read, or refused
// with a symbols::Error naming the cause; nothing else escapes.
#include <fuzzer/FuzzedDataProvider.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstdio>
#include <string>
#include <vector>

#include "../symbols/dwarf_module.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  FuzzedDataProvider input(data, size);
  const bool as_debug_file = input.ConsumeBool();
  const uint64_t probe = input.ConsumeIntegral<uint64_t>();
  const std::vector<uint8_t> file = input.ConsumeRemainingBytes<uint8_t>();
  // The addon opens files by path: a memfd gives these bytes one.
  const int fd = memfd_create("symbols_fuzz", MFD_CLOEXEC);
  if (fd < 0 || write(fd, file.data(), file.size()) != static_cast<ssize_t>(file.size())) {
    perror("symbols_fuzz: memfd");
    abort();
  }
  const std::string path = "/proc/self/fd/" + std::to_string(fd);
  try {
    symbols::DwarfModule module(path, as_debug_file ? path : std::string());
    std::vector<uint64_t> addresses{0, probe};
    for (const symbols::CompileUnit& cu : module.compile_units())
      for (const auto& [low, high] : cu.ranges) addresses.insert(addresses.end(), {low, high - 1, high});
    for (const symbols::FunctionRange& f : module.functions()) addresses.push_back(f.low);
    std::vector<symbols::Frame> frames;
    for (uint64_t address : addresses) {
      frames.clear();
      module.resolve(address, frames);
      for (const symbols::Frame& frame : frames) {
        // Every index a frame holds names a string the module handed out.
        if (frame.function >= module.strings().size() || (frame.file != symbols::kNoString && frame.file >= module.strings().size())) {
          fprintf(stderr, "symbols_fuzz: a frame names a string that is not there\n");
          abort();
        }
      }
    }
  } catch (const symbols::Error&) {
  }
  close(fd);
  return 0;
}
