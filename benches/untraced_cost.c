/* Syscall cost in a process the recorder does not trace: 1-byte reads of
 * /dev/zero (the read family feeds TLS fd discovery) and getppid (any other
 * syscall). benches/untraced_cost.sh runs it with and without a recorder. */
#include <fcntl.h>
#include <stdio.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1e9 + t.tv_nsec;
}

int main(void)
{
	const int n = 2000000;
	int fd = open("/dev/zero", O_RDONLY);
	char byte;
	double t = now();
	for (int i = 0; i < n; i++)
		if (read(fd, &byte, 1) != 1)
			return 1;
	printf("read(1 byte)  %6.0f ns\n", (now() - t) / n);
	t = now();
	for (int i = 0; i < n; i++)
		syscall(SYS_getppid);
	printf("getppid       %6.0f ns\n", (now() - t) / n);
	return 0;
}
