// The hostile-names e2e test's target: once told to (a line on stdin, sent
// after the capture attached), it renames itself, maps a library, and forks
// a child for each further name, which renames itself to it, so that the
// names arrive as real COMM, MMAP2 and FORK records.
// Usage: target LIBRARY NAME CHILD_NAME...
#define _GNU_SOURCE
#include <dlfcn.h>
#include <signal.h>
#include <stdio.h>
#include <sys/prctl.h>
#include <unistd.h>

int main(int argc, char **argv) {
  if (argc < 4) {
    fprintf(stderr, "usage: %s LIBRARY NAME CHILD_NAME...\n", argv[0]);
    return 2;
  }
  char line[16];
  if (!fgets(line, sizeof line, stdin)) return 1;
  prctl(PR_SET_NAME, argv[2]);
  void *library = dlopen(argv[1], RTLD_NOW);
  if (!library) {
    fprintf(stderr, "dlopen: %s\n", dlerror());
    return 1;
  }
  int (*mapped)(int) = (int (*)(int))dlsym(library, "hostile_mapped");
  if (!mapped) {
    fprintf(stderr, "dlsym: %s\n", dlerror());
    return 1;
  }
  mapped(1);
  for (int k = 3; k < argc; k++) {
    pid_t child = fork();
    if (child == 0) {
      // The test kills the parent; the children go with it.
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      prctl(PR_SET_NAME, argv[k]);
      for (;;) pause();
    }
    printf("child %d\n", (int)child);
  }
  printf("ready\n");
  fflush(stdout);
  for (;;) pause();
}
