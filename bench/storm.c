// A sideband storm: every iteration maps a small file executable (one MMAP2
// record: without mmap_data the kernel reports only executable maps), unmaps
// it, and renames the process (one COMM record). The bench counts the
// records a capture kept against the iterations this program reports.
//
// usage: storm ITERATIONS MAPPED_FILE REPORT_FILE
// writes "pid PID iterations N ns NS" to REPORT_FILE (NS: how long the
// iterations took, on CLOCK_MONOTONIC, so that a tool's start and end do not
// count): a file, not stdout, since the tools that launch the storm differ in
// what they pass on of its stdio.

#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char** argv) {
  if (argc != 4) {
    fprintf(stderr, "usage: storm ITERATIONS MAPPED_FILE REPORT_FILE\n");
    return 2;
  }
  const long iterations = strtol(argv[1], NULL, 10);
  const long page = sysconf(_SC_PAGESIZE);
  int fd = open(argv[2], O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0 || ftruncate(fd, page) != 0) {
    perror(argv[2]);
    return 1;
  }
  struct timespec start, end;
  clock_gettime(CLOCK_MONOTONIC, &start);
  long done = 0;
  for (; done < iterations; ++done) {
    void* map = mmap(NULL, (size_t)page, PROT_READ | PROT_EXEC, MAP_PRIVATE, fd, 0);
    if (map == MAP_FAILED) {
      perror("mmap");
      break;
    }
    munmap(map, (size_t)page);
    // Distinct names, all starting "storm-", so the bench tells them from
    // the exec's COMM "storm" and from other processes.
    char name[16];
    snprintf(name, sizeof name, "storm-%ld", done % 100000000);
    prctl(PR_SET_NAME, name, 0, 0, 0);
  }
  clock_gettime(CLOCK_MONOTONIC, &end);
  close(fd);
  FILE* report = fopen(argv[3], "w");
  if (!report) {
    perror(argv[3]);
    return 1;
  }
  const long long ns = (end.tv_sec - start.tv_sec) * 1000000000LL + (end.tv_nsec - start.tv_nsec);
  fprintf(report, "pid %d iterations %ld ns %lld\n", (int)getpid(), done, ns);
  if (fclose(report) != 0) {
    perror(argv[3]);
    return 1;
  }
  return done == iterations ? 0 : 1;
}
