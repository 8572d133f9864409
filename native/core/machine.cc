// This machine's settings, our capabilities and confinement, and its online CPUs, read from /proc and /sys.
#include "machine.h"

#include <unistd.h>

#include <cstdio>
#include <cstring>

namespace sideband {

namespace {

// The number of the first line of /proc/self/status that `format` (as
// "CapEff: %llx") reads; 0 when none does.
unsigned long long self_status(const char* format) {
  FILE* f = fopen("/proc/self/status", "re");
  if (!f) return 0;
  char line[256];
  unsigned long long value = 0;
  while (fgets(line, sizeof line, f))
    if (sscanf(line, format, &value) == 1) break;
  fclose(f);
  return value;
}

}  // namespace

long read_long(const char* path, long fallback) {
  FILE* f = fopen(path, "re");
  if (!f) return fallback;
  long v = fallback;
  if (fscanf(f, "%ld", &v) != 1) v = fallback;
  fclose(f);
  return v;
}

bool has_capability(int cap) { return (self_status("CapEff: %llx") >> cap) & 1; }

bool under_seccomp_filter() { return self_status("Seccomp: %llu") == 2; }

std::string container_evidence() {
  for (const char* marker : {"/.dockerenv", "/run/.containerenv"})
    if (access(marker, F_OK) == 0) return std::string("found ") + marker;
  FILE* f = fopen("/proc/1/cgroup", "re");
  if (!f) return "";
  char line[512];
  std::string found;
  while (found.empty() && fgets(line, sizeof line, f))
    for (const char* runtime : {"docker", "kubepods", "containerd", "libpod", "lxc"})
      if (strstr(line, runtime)) {
        found = std::string("/proc/1/cgroup names ") + runtime;
        break;
      }
  fclose(f);
  return found;
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
