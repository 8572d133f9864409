/*
 * kernel-init: PID 1 of the kernel that scripts/test-kernel.sh boots. It
 * mounts /proc and /sys, runs /kernel-check, prints the verdict line the
 * script waits for on the serial console, and reboots, which ends QEMU
 * (-no-reboot). The verdict is kernel-check's exit status, nothing else.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

int main(void)
{
	int status = -1;
	pid_t child;

	mkdir("/proc", 0555);
	mkdir("/sys", 0555);
	mkdir("/tmp", 01777);
	if (mount("proc", "/proc", "proc", 0, NULL) != 0)
		printf("kernel-init: mount /proc: %s\n", strerror(errno));
	if (mount("sysfs", "/sys", "sysfs", 0, NULL) != 0)
		printf("kernel-init: mount /sys: %s\n", strerror(errno));
	fflush(stdout);

	child = fork();
	if (child == 0) {
		char *argv[] = { "/kernel-check", NULL };

		execv(argv[0], argv);
		printf("kernel-init: cannot run %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	/* PID 1 also reaps orphans: wait for the check program itself. */
	while (child > 0 && waitpid(child, &status, 0) < 0 && errno == EINTR)
		;
	if (child > 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0)
		printf("SIDEBAND-KERNEL-VERDICT: PASS\n");
	else
		printf("SIDEBAND-KERNEL-VERDICT: FAIL (kernel-check status 0x%x)\n", status);
	fflush(stdout);
	sync();
	reboot(RB_AUTOBOOT);
	return 1;
}
