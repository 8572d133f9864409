// This machine's settings, our capabilities and its online CPUs, read from /proc and /sys.
#include "machine.h"

#include <unistd.h>

#include <cstdio>

namespace sideband {

long read_long(const char* path, long fallback) {
  FILE* f = fopen(path, "re");
  if (!f) return fallback;
  long v = fallback;
  if (fscanf(f, "%ld", &v) != 1) v = fallback;
  fclose(f);
  return v;
}

bool has_capability(int cap) {
  FILE* f = fopen("/proc/self/status", "re");
  if (!f) return false;
  char line[256];
  unsigned long long eff = 0;
  while (fgets(line, sizeof line, f))
    if (sscanf(line, "CapEff: %llx", &eff) == 1) break;
  fclose(f);
  return (eff >> cap) & 1;
}

std::vector<int> online_cpus() {
  std::vector<int> cpus;
  FILE* f = fopen("/sys/devices/system/cpu/online", "re");
  if (f) {
    int a, b;
    char sep;
    while (fscanf(f, "%d", &a) == 1) {
      b = a;
      if (fscanf(f, "%c", &sep) == 1 && sep == '-') {
        if (fscanf(f, "%d", &b) != 1) b = a;
        if (fscanf(f, "%c", &sep) != 1) sep = '\n';
      }
      for (int c = a; c <= b; ++c) cpus.push_back(c);
      if (sep != ',') break;
    }
    fclose(f);
  }
  if (cpus.empty())
    for (long c = 0; c < sysconf(_SC_NPROCESSORS_ONLN); ++c) cpus.push_back(static_cast<int>(c));
  return cpus;
}

}  // namespace sideband
