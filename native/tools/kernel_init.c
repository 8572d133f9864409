/*
 * kernel-init: PID 1 of the kernel that scripts/test-kernel.sh boots. It
 * mounts /proc and /sys, runs /kernel-check, then /status-paths (the
 * benchmark of bench/status_paths.cc, which needs this kernel too), prints
 * the verdict line the script waits for on the serial console, and reboots,
 * which ends QEMU (-no-reboot). The verdict is the two programs' exit
 * statuses, nothing else: status-paths fails only when it could not measure.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* Runs `path` with no arguments; returns its wait status, -1 if it did not run. */
static int run(const char *path)
{
	int status = -1;
	pid_t child = fork();

	if (child == 0) {
		char *argv[] = { (char *)path, NULL };

		execv(argv[0], argv);
		printf("kernel-init: cannot run %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	/* PID 1 also reaps orphans: wait for the program itself. */
	while (child > 0 && waitpid(child, &status, 0) < 0 && errno == EINTR)
		;
	fflush(stdout);
	return child > 0 ? status : -1;
}

static int passed(int status)
{
	return status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

int main(void)
{
	int check, paths;

	mkdir("/proc", 0555);
	mkdir("/sys", 0555);
	mkdir("/tmp", 01777);
	if (mount("proc", "/proc", "proc", 0, NULL) != 0)
		printf("kernel-init: mount /proc: %s\n", strerror(errno));
	if (mount("sysfs", "/sys", "sysfs", 0, NULL) != 0)
		printf("kernel-init: mount /sys: %s\n", strerror(errno));
	fflush(stdout);

	check = run("/kernel-check");
	paths = run("/status-paths");
	if (passed(check) && passed(paths))
		printf("SIDEBAND-KERNEL-VERDICT: PASS\n");
	else
		printf("SIDEBAND-KERNEL-VERDICT: FAIL (kernel-check status 0x%x, status-paths status 0x%x)\n", check, paths);
	fflush(stdout);
	sync();
	reboot(RB_AUTOBOOT);
	return 1;
}
