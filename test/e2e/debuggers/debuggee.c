// The C debuggee of test/e2e/debuggers.test.ts, run under lldb-vscode. Once
// the file argv[1] exists (the capture has attached), it does what the
// sideband shows as real records: it dlopens ./libdebuggee.so (built -g),
// calls into it, renames a thread, forks and execs /bin/true. Then it stays,
// so its mappings stay live, until the debugger ends it.
#define _GNU_SOURCE  // pthread_setname_np
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static void *renamed_thread(void *arg) {
  (void)arg;
  pthread_setname_np(pthread_self(), "debuggee-worker");
  pause();
  return NULL;
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: debuggee GO_FILE\n");
    return 2;
  }
  struct stat st;
  // Bounded: ten minutes at most, for a test that never says go.
  for (int i = 0; i < 12000 && stat(argv[1], &st) != 0; i++) usleep(50 * 1000);

  void *library = dlopen("./libdebuggee.so", RTLD_NOW);
  if (!library) {
    fprintf(stderr, "debuggee: %s\n", dlerror());
    return 1;
  }
  unsigned (*checksum)(const char *) = (unsigned (*)(const char *))dlsym(library, "debuggee_checksum");
  printf("checksum %u\n", checksum("sideband"));

  pthread_t worker;
  pthread_create(&worker, NULL, renamed_thread, NULL);

  pid_t child = fork();
  if (child == 0) {
    execl("/bin/true", "true", (char *)NULL);
    _exit(127);
  }
  waitpid(child, NULL, 0);
  fflush(stdout);
  for (;;) pause();
}
