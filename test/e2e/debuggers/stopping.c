// The C debuggee of test/e2e/stops.test.ts, run under lldb-vscode. Once the
// file argv[1] exists (the capture has attached), it dlopens and dlcloses
// ./libdebuggee.so, so the model holds a region the kernel no longer has,
// then stops itself with SIGTRAP, as a breakpoint does: the debugger stop at which
// the extension takes a status snapshot. Continued, it stays until the
// debugger ends it.
#include <dlfcn.h>
#include <signal.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: stopping GO_FILE\n");
    return 2;
  }
  struct stat st;
  // Bounded: ten minutes at most, for a test that never says go.
  for (int i = 0; i < 12000 && stat(argv[1], &st) != 0; i++) usleep(50 * 1000);

  void *library = dlopen("./libdebuggee.so", RTLD_NOW);
  if (!library) {
    fprintf(stderr, "stopping: %s\n", dlerror());
    return 1;
  }
  dlclose(library);
  raise(SIGTRAP);
  for (;;) pause();
}
