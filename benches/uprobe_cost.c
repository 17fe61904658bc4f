/* Cost of one uprobe hit by the probed function's first instruction: the
 * kernel emulates some instructions and single-steps the rest out of line.
 * Each function is called in a loop and timed; run it bare, then with
 * uprobes on the functions (benches/uprobe_cost.sh does both). */
#include <stdio.h>
#include <time.h>

__asm__(".text\n"
	".globl first_sub\nfirst_sub:\n sub $8,%rsp\n add $8,%rsp\n ret\n"
	".globl first_push\nfirst_push:\n push %rbp\n pop %rbp\n ret\n"
	".globl first_push_r13\nfirst_push_r13:\n push %r13\n pop %r13\n ret\n"
	".globl first_endbr64\nfirst_endbr64:\n endbr64\n sub $8,%rsp\n add $8,%rsp\n ret\n"
	".globl first_call\nfirst_call:\n call first_push\n ret\n");

void first_sub(void);
void first_push(void);
void first_push_r13(void);
void first_endbr64(void);
void first_call(void);

static double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec * 1e-9;
}

int main(void)
{
	const int n = 200000;
	void (*fns[])(void) = { first_sub, first_push, first_push_r13, first_endbr64, first_call };
	const char *names[] = { "sub $8,%rsp", "push %rbp", "push %r13", "endbr64", "call rel32" };
	for (int k = 0; k < 5; k++) {
		double t = now();
		for (int i = 0; i < n; i++)
			fns[k]();
		printf("%-12s %8.0f ns per call\n", names[k], (now() - t) / n * 1e9);
	}
	return 0;
}
