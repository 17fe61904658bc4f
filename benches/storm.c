/* Event-storm workload for benches/storm.sh (compiled there with gcc -O2).
 *
 *   storm mixed EXECS FILES CONNECTS DIR OUT.json
 *       EXECS x fork+execv(/bin/true)+waitpid, then FILES x open(DIR/file-<i>.tmp,
 *       O_CREAT|O_WRONLY|O_TRUNC)+close+unlink (a new name every time),
 *       then CONNECTS x socket+connect+close to a loopback TCP listener run by a
 *       forked child (accept+close). Each phase is timed.
 *   storm open COUNT RATE PATH OUT.json [WORKERS]
 *       COUNT x open(PATH, O_RDONLY)+close, paced at RATE opens/s (0 = as fast
 *       as possible), split over WORKERS forked processes (default 1). A missing PATH makes every open fail with ENOENT: still
 *       one recorded event, without the close, for the highest event rate.
 *
 * Writes one JSON object to OUT.json (stdout is left to the recorder).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void die(const char *what)
{
	perror(what);
	exit(2);
}

static double do_execs(long n)
{
	char *const argv[] = {"true", NULL};
	double t0 = now();
	for (long i = 0; i < n; i++) {
		pid_t p = fork();
		if (p < 0)
			die("fork");
		if (p == 0) {
			execv("/bin/true", argv);
			_exit(127);
		}
		int st;
		if (waitpid(p, &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
			die("waitpid /bin/true");
	}
	return now() - t0;
}

static double do_files(long n, const char *dir)
{
	char path[4096];
	double t0 = now();
	for (long i = 0; i < n; i++) {
		snprintf(path, sizeof path, "%s/file-%ld.tmp", dir, i);
		int fd = open(path, O_CREAT | O_WRONLY | O_TRUNC, 0644);
		if (fd < 0)
			die("open create");
		close(fd);
		if (unlink(path))
			die("unlink");
	}
	return now() - t0;
}

static double do_connects(long n)
{
	int ls = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t al = sizeof a;
	int one = 1;
	setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	if (ls < 0 || bind(ls, (struct sockaddr *)&a, sizeof a) || listen(ls, 4096) ||
	    getsockname(ls, (struct sockaddr *)&a, &al))
		die("listen");
	pid_t srv = fork();
	if (srv < 0)
		die("fork");
	if (srv == 0) {
		for (;;) {
			int c = accept(ls, NULL, NULL);
			if (c >= 0)
				close(c);
		}
	}
	close(ls);
	struct linger lg = {1, 0}; /* RST on close: no TIME_WAIT, no port exhaustion */
	double t0 = now();
	for (long i = 0; i < n; i++) {
		int s = socket(AF_INET, SOCK_STREAM, 0);
		if (s < 0)
			die("socket");
		if (connect(s, (struct sockaddr *)&a, sizeof a))
			die("connect");
		setsockopt(s, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
		close(s);
	}
	double t = now() - t0;
	/* let the listener drain its backlog (accept events) before stopping it */
	usleep(200 * 1000);
	kill(srv, SIGKILL);
	waitpid(srv, NULL, 0);
	return t;
}

static int mixed(int argc, char **argv)
{
	if (argc != 7)
		return 1;
	long ne = atol(argv[2]), nf = atol(argv[3]), nc = atol(argv[4]);
	double t0 = now();
	double te = do_execs(ne);
	double tf = do_files(nf, argv[5]);
	double tc = do_connects(nc);
	double total = now() - t0;
	FILE *f = fopen(argv[6], "w");
	if (!f)
		die("out");
	fprintf(f,
		"{\"mode\":\"mixed\",\"execs\":%ld,\"files\":%ld,\"connects\":%ld,"
		"\"exec_s\":%.6f,\"files_s\":%.6f,\"connect_s\":%.6f,\"total_s\":%.6f}\n",
		ne, nf, nc, te, tf, tc, total);
	fclose(f);
	return 0;
}

static void open_loop(long n, double rate, const char *path)
{
	const long batch = 64;
	double t0 = now();
	for (long i = 0; i < n;) {
		for (long j = 0; j < batch && i < n; j++, i++) {
			int fd = open(path, O_RDONLY);
			if (fd >= 0)
				close(fd);
			else if (errno != ENOENT)
				die("open");
		}
		if (rate > 0) {
			double due = t0 + i / rate;
			double d = due - now();
			if (d > 200e-6) {
				struct timespec ts = {(time_t)d, (long)((d - (time_t)d) * 1e9)};
				nanosleep(&ts, NULL);
			}
			while (now() < due)
				;
		}
	}
}

static int openloop(int argc, char **argv)
{
	if (argc != 6 && argc != 7)
		return 1;
	long n = atol(argv[2]);
	double rate = atof(argv[3]);
	const char *path = argv[4];
	long workers = argc == 7 ? atol(argv[6]) : 1;
	if (workers < 1)
		workers = 1;
	double t0 = now();
	if (workers == 1) {
		open_loop(n, rate, path);
	} else {
		for (long w = 0; w < workers; w++) {
			pid_t p = fork();
			if (p < 0)
				die("fork");
			if (p == 0) {
				open_loop(n / workers, rate / workers, path);
				_exit(0);
			}
		}
		for (long w = 0; w < workers; w++) {
			int st;
			if (wait(&st) < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
				die("worker");
		}
		n = n / workers * workers;
	}
	double t = now() - t0;
	FILE *f = fopen(argv[5], "w");
	if (!f)
		die("out");
	fprintf(f, "{\"mode\":\"open\",\"opens\":%ld,\"workers\":%ld,\"target_rate\":%.0f,\"total_s\":%.6f,\"rate\":%.1f}\n",
		n, workers, rate, t, n / t);
	fclose(f);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc > 1 && !strcmp(argv[1], "mixed"))
		return mixed(argc, argv);
	if (argc > 1 && !strcmp(argv[1], "open"))
		return openloop(argc, argv);
	fprintf(stderr, "usage: storm mixed EXECS FILES CONNECTS DIR OUT | storm open COUNT RATE PATH OUT [WORKERS]\n");
	return 1;
}
