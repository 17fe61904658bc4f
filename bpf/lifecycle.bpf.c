// SPDX-License-Identifier: (GPL-2.0 OR Apache-2.0)
/*
 * Process, file and network lifecycle of the traced pid set.
 * Only tracepoints (BTF and syscall tracepoints): this kernel family has
 * no kprobes. Events go to the `events` ring buffer as raw records; the
 * recorder stores them without decoding.
 */
#include "common.bpf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define AT_FDCWD -100
#define O_WRONLY 01
#define O_CREAT 0100
#define O_TRUNC 01000
#define AF_UNIX 1
#define AF_INET 2
#define AF_INET6 10

/* Children of this tgid are followed from their first instruction (the
 * recorder launching `-- CMD`). */
const volatile __u32 launcher_tgid = 0;
const volatile __u8 comm_filter_on = 0;

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 8 << 20); /* set at load: EVENTS_RING_BYTES */
} events SEC(".maps");

/* Executable files already exec'd in this recording (see handle_exec). */
struct file_key {
	__u64 ino;
	__u32 dev;
	__u32 _pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, struct file_key);
	__type(value, __u8);
} execs_seen SEC(".maps");

/* comm names given with --comm: a process that execs into one is followed. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 64);
	__type(key, char[TASK_COMM_LEN]);
	__type(value, __u8);
} comm_filter SEC(".maps");

/* A syscall's arguments, taken at its exit from the user registers saved at
 * entry (so there is no sys_enter program and no per-thread map to fill and
 * clear for each syscall), plus what the exit learns about the socket. */
struct inflight {
	__u64 path;          /* user pointer */
	__u64 path2;         /* user pointer */
	__u64 sockaddr;      /* user pointer (connect) */
	__u64 addrlen_ptr;   /* user pointer (accept) or length (connect) */
	__u32 op;
	__s32 dfd;
	__u32 flags;
	__u32 mode;
	/* filled from the socket at syscall exit: the kernel's view of the 4-tuple */
	__u16 family;
	__u16 local_port;
	__u16 remote_port;
	__u16 has_sock;
	__u8 local_addr[16];
	__u8 remote_addr[16];
};

/* The saved user registers of the current syscall. */
static __always_inline struct pt_regs *syscall_regs(void)
{
	return (struct pt_regs *)bpf_task_pt_regs(bpf_get_current_task_btf());
}

/* Argument i (0-based) of the current syscall, from `regs`. */
#define ARG0 ((__u64)PT_REGS_PARM1_SYSCALL(regs))
#define ARG1 ((__u64)PT_REGS_PARM2_SYSCALL(regs))
#define ARG2 ((__u64)PT_REGS_PARM3_SYSCALL(regs))
#define ARG3 ((__u64)PT_REGS_PARM4_SYSCALL(regs))
#define ARG4 ((__u64)PT_REGS_PARM5_SYSCALL(regs))

static __always_inline int emit_event_wake(void *data, __u64 size, int urgent)
{
	if (size > SCRATCH_SIZE)
		return 0;
	__u64 pending = bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA);
	__u64 flags = rb_wake_flags(pending, size, urgent);
	if (bpf_ringbuf_output(&events, data, size, flags)) {
		count_stat(STAT_RB_RESERVE_FAIL_EVENTS, 1);
		return -1;
	}
	return 0;
}

static __always_inline int emit_event(void *data, __u64 size)
{
	return emit_event_wake(data, size, 0);
}

static __always_inline int follow(__u32 tgid)
{
	__u8 one = 1;
	if (trace_all)
		return 0;
	if (bpf_map_update_elem(&traced, &tgid, &one, BPF_ANY)) {
		count_stat(STAT_PID_SET_FULL, 1);
		return -1;
	}
	return 0;
}

/* ---------------------------------------------------------------- process */

/* Kernel paths (an exec's cwd, an opened file) are assembled backwards at
 * the end of the scratch buffer, past anything a record's payload can reach
 * (an exec's header, body, filename, argv and cwd take at most ~24.6 KiB, a
 * file record's ~12.4 KiB; a name may overrun the area by 255 bytes). */
#define PATH_AREA (SCRATCH_SIZE - PATH_CAP - 256)
#define PATH_MAX_DEPTH 40

/* Walks a dentry up to the root, crossing mount points. Returns the offset
 * in the area where the path starts; the path ends at PATH_CAP. A path
 * deeper than the walk starts with "...". */
static __always_inline __u32 build_path(__u8 *area, struct dentry *d, struct vfsmount *vm)
{
	struct mount *mnt = (struct mount *)((char *)vm - bpf_core_field_offset(struct mount, mnt));
	__u32 pos = PATH_CAP;
	int complete = 0;

	for (int i = 0; i < PATH_MAX_DEPTH; i++) {
		if (d == BPF_CORE_READ(vm, mnt_root)) {
			struct mount *parent_mnt = BPF_CORE_READ(mnt, mnt_parent);
			if (parent_mnt == mnt) {
				complete = 1;
				break;
			}
			d = BPF_CORE_READ(mnt, mnt_mountpoint);
			mnt = parent_mnt;
			vm = (struct vfsmount *)((char *)mnt + bpf_core_field_offset(struct mount, mnt));
			continue;
		}
		struct dentry *parent = BPF_CORE_READ(d, d_parent);
		if (d == parent) {
			complete = 1;
			break;
		}
		__u32 len = BPF_CORE_READ(d, d_name.len);
		const unsigned char *name = BPF_CORE_READ(d, d_name.name);
		len &= 255;
		if (pos < len + 8)
			break;
		pos -= len;
		pos &= PATH_CAP - 1;
		bpf_probe_read_kernel(area + pos, len, name);
		pos -= 1;
		pos &= PATH_CAP - 1;
		area[pos] = '/';
		d = parent;
	}
	if (pos == PATH_CAP) {
		pos = PATH_CAP - 1;
		area[pos] = '/';
	}
	if (!complete && pos >= 3) {
		pos -= 3;
		pos &= PATH_CAP - 1;
		area[pos] = '.';
		area[(pos + 1) & (PATH_CAP - 1)] = '.';
		area[(pos + 2) & (PATH_CAP - 1)] = '.';
	}
	return pos;
}

/* Copies the kernel path of `d`/`vm` to `dest`; returns its length (0 when
 * it could not be read). */
static __always_inline __u32 copy_kernel_path(__u8 *buf, __u8 *dest, struct dentry *d,
					      struct vfsmount *vm)
{
	__u8 *area = buf + PATH_AREA;
	__u32 start = build_path(area, d, vm) & (PATH_CAP - 1);
	__u32 len = (PATH_CAP - start) & (PATH_CAP - 1);
	if (bpf_probe_read_kernel(dest, len, area + start))
		return 0;
	return len;
}

SEC("tp_btf/sched_process_fork")
int BPF_PROG(handle_fork, struct task_struct *parent, struct task_struct *child)
{
	__u32 ptgid = parent->tgid;
	__u32 ctgid = child->tgid;

	if (child->pid != ctgid) /* a new thread, not a new process */
		return 0;
	if (!(launcher_tgid && ptgid == launcher_tgid) && !is_traced(ptgid))
		return 0;
	follow(ctgid);

	struct {
		struct event_header h;
		struct fork_body b;
	} ev = {};
	fill_header(&ev.h, EV_FORK, child);
	ev.b.ppid = ptgid;
	ev.b.parent_start_ns = BPF_CORE_READ(parent, group_leader, start_boottime);
	emit_event(&ev, sizeof(ev));
	return 0;
}

SEC("tp_btf/sched_process_exec")
int BPF_PROG(handle_exec, struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm)
{
	__u32 tgid = p->tgid;

	if (!is_traced(tgid)) {
		if (!comm_filter_on || tgid == self_tgid)
			return 0;
		char comm[TASK_COMM_LEN] = {};
		bpf_get_current_comm(comm, sizeof(comm));
		if (!bpf_map_lookup_elem(&comm_filter, comm))
			return 0;
		follow(tgid);
	}

	__u8 *buf = scratch_area();
	if (!buf)
		return 0;
	struct event_header *h = (void *)buf;
	struct exec_body *b = (void *)(buf + sizeof(*h));
	__u8 *payload = buf + sizeof(*h) + sizeof(*b);

	fill_header(h, EV_EXEC, p);
	struct task_struct *parent = BPF_CORE_READ(p, real_parent);
	b->ppid = BPF_CORE_READ(parent, tgid);
	b->parent_start_ns = BPF_CORE_READ(parent, group_leader, start_boottime);

	long n = bpf_probe_read_kernel_str(payload, PATH_CAP, BPF_CORE_READ(bprm, filename));
	__u32 flen = n > 0 ? (n - 1) & (PATH_CAP - 1) : 0;
	b->filename_len = flen;

	__u64 arg_start = BPF_CORE_READ(p, mm, arg_start);
	__u64 arg_end = BPF_CORE_READ(p, mm, arg_end);
	__u64 alen = arg_end > arg_start ? arg_end - arg_start : 0;
	b->argv_truncated = alen > ARGV_CAP - 1;
	if (alen > ARGV_CAP - 1)
		alen = ARGV_CAP - 1;
	alen &= ARGV_CAP - 1;
	if (bpf_probe_read_user(payload + flen, alen, (void *)arg_start)) {
		count_stat(STAT_READ_FAIL, 1);
		alen = 0;
	}
	b->argv_len = alen;

	struct fs_struct *fs = BPF_CORE_READ(p, fs);
	__u32 clen = copy_kernel_path(buf, payload + flen + alen, BPF_CORE_READ(fs, pwd.dentry),
				      BPF_CORE_READ(fs, pwd.mnt));
	b->cwd_len = clen;
	h->payload_len = flen + alen + clen;
	/* The recorder scans a new image for TLS to hook: wake it at once the
	 * first time a binary runs. A later exec of the same file brings no new
	 * code (its libraries come through opens), so it waits for the batch:
	 * a wakeup costs the exec ~16 us here. */
	struct file_key fk = {};
	fk.ino = BPF_CORE_READ(bprm, file, f_inode, i_ino);
	fk.dev = BPF_CORE_READ(bprm, file, f_inode, i_sb, s_dev);
	int urgent = 0;
	if (!bpf_map_lookup_elem(&execs_seen, &fk)) {
		__u8 one = 1;
		bpf_map_update_elem(&execs_seen, &fk, &one, BPF_ANY);
		urgent = 1;
	}
	emit_event_wake(buf, sizeof(*h) + sizeof(*b) + flen + alen + clen, urgent);
	return 0;
}

SEC("tp_btf/sched_process_exit")
int BPF_PROG(handle_exit, struct task_struct *p)
{
	__u32 tgid = p->tgid;

	if (!is_traced(tgid))
		return 0;
	/* A process ends when its last thread does. */
	if (BPF_CORE_READ(p, signal, live.counter) != 0)
		return 0;

	struct {
		struct event_header h;
		struct exit_body b;
	} ev = {};
	fill_header(&ev.h, EV_EXIT, p);
	ev.b.exit_code = BPF_CORE_READ(p, exit_code);
	emit_event(&ev, sizeof(ev));
	if (!trace_all)
		bpf_map_delete_elem(&traced, &tgid);
	return 0;
}

/* ------------------------------------------------------------------ files */

/* A TLS-looking shared object (libssl.so.3, libcrypto.so.3, libboringssl.so,
 * _ssl.cpython-311-x86_64-linux-gnu.so): ".so" and "ssl", "cry" or "bor"
 * among the last bytes of the path. The recorder scans the process for TLS to
 * hook when such a library is opened (events.rs: may_be_tls_library), so its
 * open wakes the recorder at once. */
#define SO_SCAN 40
/* 1 if the 24-bit w holds the bytes a, b, c; no branch (each branch would
 * double the states the verifier walks through the loop). */
#define EQ24(w, a, b, c) ((((w) ^ ((a) | (b) << 8 | (c) << 16)) - 1) >> 63)
static __always_inline int is_tls_library(__u8 *buf, const __u8 *p, __u32 len)
{
	/* The path's tail is copied to the end of the scratch buffer and scanned
	 * at offsets that do not depend on the length: cheap to verify. Bytes
	 * past the path can only cause a spurious wakeup. */
	__u8 *t = buf + SCRATCH_SIZE - 64;
	__u32 start = len > SO_SCAN ? len - SO_SCAN : 0;
	__u64 so = 0, tls = 0;

	if (bpf_probe_read_kernel(t, SO_SCAN + 2, p + (start & (PATH_CAP - 1))))
		return 0;
	for (int i = 0; i < SO_SCAN; i++) {
		__u64 w = t[i] | t[i + 1] << 8 | t[i + 2] << 16;
		so |= EQ24(w, '.', 's', 'o');
		tls |= EQ24(w, 's', 's', 'l') | EQ24(w, 'c', 'r', 'y') | EQ24(w, 'b', 'o', 'r');
	}
	return so && tls;
}

static __always_inline int finish_file(long ret, const int is_open, struct inflight *f)
{
	__u8 *buf = scratch_area();
	if (!buf)
		return 0;
	struct event_header *h = (void *)buf;
	struct file_body *b = (void *)(buf + sizeof(*h));
	__u8 *payload = buf + sizeof(*h) + sizeof(*b);

	fill_header(h, EV_FILE, (struct task_struct *)bpf_get_current_task_btf());
	b->ret = ret;
	b->op = f->op;
	b->dfd = f->dfd;
	b->flags = f->flags;
	b->mode = f->mode;

	__u32 l1 = 0, l2 = 0;
	if (f->path) {
		long n = bpf_probe_read_user_str(payload, PATH_CAP, (void *)f->path);
		l1 = n > 0 ? (n - 1) & (PATH_CAP - 1) : 0;
	}
	if (f->path2) {
		long n = bpf_probe_read_user_str(payload + l1, PATH_CAP, (void *)f->path2);
		l2 = n > 0 ? (n - 1) & (PATH_CAP - 1) : 0;
	}
	__u32 l3 = 0;
	if (f->op == FOP_OPEN && ret >= 0) {
		/* the file behind the new fd, as the kernel resolved it */
		struct task_struct *task = (struct task_struct *)bpf_get_current_task_btf();
		struct fdtable *fdt = BPF_CORE_READ(task, files, fdt);
		struct file **fds = BPF_CORE_READ(fdt, fd);
		struct file *file = 0;
		if (ret < BPF_CORE_READ(fdt, max_fds) &&
		    !bpf_probe_read_kernel(&file, sizeof(file), fds + (ret & 0xffffff)) && file)
			l3 = copy_kernel_path(buf, payload + ((l1 + l2) & (2 * PATH_CAP - 1)),
					      BPF_CORE_READ(file, f_path.dentry),
					      BPF_CORE_READ(file, f_path.mnt));
	}
	b->path_len = l1;
	b->path2_len = l2;
	b->resolved_len = l3;
	h->payload_len = l1 + l2 + l3;
	int urgent = is_open && ret >= 0 && is_tls_library(buf, payload, l1);
	emit_event_wake(buf, sizeof(*h) + sizeof(*b) + l1 + l2 + l3, urgent);
	return 0;
}

/* One exit program per file syscall: `args` fills the inflight from ARGn. */
#define FILE_EXIT(name, is_open, fop, args)                                   \
	SEC("tracepoint/syscalls/sys_exit_" #name)                            \
	int exit_##name(struct trace_event_raw_sys_exit *ctx)                 \
	{                                                                     \
		if (!is_traced(bpf_get_current_pid_tgid() >> 32))             \
			return 0;                                             \
		struct pt_regs *regs = syscall_regs();                        \
		struct inflight f = {};                                       \
		f.op = fop;                                                   \
		f.dfd = AT_FDCWD;                                             \
		args;                                                         \
		return finish_file(ctx->ret, is_open, &f);                    \
	}

FILE_EXIT(open, 1, FOP_OPEN, (f.path = ARG0, f.flags = ARG1, f.mode = ARG2))
FILE_EXIT(creat, 0, FOP_OPEN, (f.path = ARG0, f.flags = O_CREAT | O_WRONLY | O_TRUNC, f.mode = ARG1))
FILE_EXIT(openat, 1, FOP_OPEN, (f.dfd = ARG0, f.path = ARG1, f.flags = ARG2, f.mode = ARG3))

SEC("tracepoint/syscalls/sys_exit_openat2")
int exit_openat2(struct trace_event_raw_sys_exit *ctx)
{
	if (!is_traced(bpf_get_current_pid_tgid() >> 32))
		return 0;
	struct pt_regs *regs = syscall_regs();
	struct inflight f = {};
	struct open_how how = {};
	bpf_probe_read_user(&how, sizeof(how), (void *)ARG2);
	f.op = FOP_OPEN;
	f.dfd = ARG0;
	f.path = ARG1;
	f.flags = how.flags;
	f.mode = how.mode;
	return finish_file(ctx->ret, 1, &f);
}

FILE_EXIT(rename, 0, FOP_RENAME, (f.path = ARG0, f.path2 = ARG1))
FILE_EXIT(renameat, 0, FOP_RENAME, (f.dfd = ARG0, f.path = ARG1, f.path2 = ARG3))
FILE_EXIT(renameat2, 0, FOP_RENAME, (f.dfd = ARG0, f.path = ARG1, f.path2 = ARG3, f.flags = ARG4))
FILE_EXIT(unlink, 0, FOP_UNLINK, (f.path = ARG0))
FILE_EXIT(unlinkat, 0, FOP_UNLINK, (f.dfd = ARG0, f.path = ARG1, f.flags = ARG2))
FILE_EXIT(chmod, 0, FOP_CHMOD, (f.path = ARG0, f.mode = ARG1))
FILE_EXIT(fchmod, 0, FOP_CHMOD, (f.dfd = ARG0, f.mode = ARG1))
FILE_EXIT(fchmodat, 0, FOP_CHMOD, (f.dfd = ARG0, f.path = ARG1, f.mode = ARG2))
FILE_EXIT(fchmodat2, 0, FOP_CHMOD, (f.dfd = ARG0, f.path = ARG1, f.mode = ARG2, f.flags = ARG3))
FILE_EXIT(memfd_create, 0, FOP_MEMFD, (f.path = ARG0, f.flags = ARG1))
FILE_EXIT(link, 0, FOP_LINK, (f.path = ARG0, f.path2 = ARG1))
FILE_EXIT(linkat, 0, FOP_LINK, (f.dfd = ARG0, f.path = ARG1, f.path2 = ARG3, f.flags = ARG4))
FILE_EXIT(symlink, 0, FOP_SYMLINK, (f.path = ARG1, f.path2 = ARG0))
FILE_EXIT(symlinkat, 0, FOP_SYMLINK, (f.dfd = ARG1, f.path = ARG2, f.path2 = ARG0))

/* ---------------------------------------------------------------- network */

static __always_inline void copy_sock(struct inflight *f, struct sock *sk)
{
	__u16 family = BPF_CORE_READ(sk, __sk_common.skc_family);
	f->has_sock = 1;
	f->family = family;
	f->local_port = BPF_CORE_READ(sk, __sk_common.skc_num);
	f->remote_port = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
	/* explicit sizes: BPF_CORE_READ_INTO would size by the u8 element */
	if (family == AF_INET) {
		bpf_core_read(f->local_addr, 4, &sk->__sk_common.skc_rcv_saddr);
		bpf_core_read(f->remote_addr, 4, &sk->__sk_common.skc_daddr);
	} else {
		bpf_core_read(f->local_addr, 16, &sk->__sk_common.skc_v6_rcv_saddr);
		bpf_core_read(f->remote_addr, 16, &sk->__sk_common.skc_v6_daddr);
	}
}

/* The kernel's view of a socket fd's 4-tuple, read after the syscall ran (so a
 * connect's local port is already chosen). fentry/fexit cannot be relied on
 * everywhere, so walk current->files instead of hooking the TCP layer. */
static __always_inline int sock_of_fd(__s32 fd, struct sock **out)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task_btf();
	struct file **fds = BPF_CORE_READ(task, files, fdt, fd);
	unsigned int max_fds = BPF_CORE_READ(task, files, fdt, max_fds);
	struct file *file = NULL;

	if (fd < 0 || (unsigned int)fd >= max_fds)
		return -1;
	if (bpf_probe_read_kernel(&file, sizeof(file), &fds[fd]) || !file)
		return -1;
	umode_t mode = BPF_CORE_READ(file, f_inode, i_mode);
	if ((mode & 00170000) != 0140000) /* S_IFSOCK */
		return -1;
	struct socket *sock = BPF_CORE_READ(file, private_data);
	*out = BPF_CORE_READ(sock, sk);
	return *out ? 0 : -1;
}

static __always_inline int finish_net(long ret, __u32 op)
{
	/* A failed accept on a non-blocking listener is noise, not evidence. */
	if (op == NOP_ACCEPT && ret < 0)
		return 0;
	if (!is_traced(bpf_get_current_pid_tgid() >> 32))
		return 0;

	struct pt_regs *regs = syscall_regs();
	struct inflight fl = {};
	struct inflight *f = &fl;
	f->op = op;
	f->dfd = ARG0;
	f->sockaddr = ARG1;
	f->addrlen_ptr = ARG2; /* accept: a pointer; connect: the length */

	__u8 *buf = scratch_area();
	if (!buf)
		return 0;
	struct event_header *h = (void *)buf;
	struct net_body *b = (void *)(buf + sizeof(*h));
	__u8 *payload = buf + sizeof(*h) + sizeof(*b);

	fill_header(h, EV_NET, (struct task_struct *)bpf_get_current_task_btf());
	__builtin_memset(b, 0, sizeof(*b));
	b->ret = ret;
	b->op = f->op;
	b->fd = f->dfd;
	__u32 ulen = 0;

	struct sock *sk = NULL;
	__s32 sock_fd = f->op == NOP_CONNECT ? f->dfd : (__s32)ret;
	if (sock_fd >= 0 && !sock_of_fd(sock_fd, &sk)) {
		__u16 family = BPF_CORE_READ(sk, __sk_common.skc_family);
		if (family == AF_INET || family == AF_INET6)
			copy_sock(f, sk);
	}
	if (f->has_sock) {
		b->family = f->family;
		b->local_port = f->local_port;
		b->remote_port = f->remote_port;
		__builtin_memcpy(b->local_addr, f->local_addr, 16);
		__builtin_memcpy(b->remote_addr, f->remote_addr, 16);
	} else {
		/* Not TCP (UDP, unix, or failed before the TCP layer): the
		 * user's sockaddr is all we have. */
		__u64 uaddr = f->sockaddr;
		__u32 alen = 0;
		if (f->op == NOP_CONNECT) {
			alen = f->addrlen_ptr;
		} else if (f->addrlen_ptr) {
			bpf_probe_read_user(&alen, sizeof(alen), (void *)f->addrlen_ptr);
		}
		if (uaddr && alen >= 2) {
			__u16 family = 0;
			bpf_probe_read_user(&family, sizeof(family), (void *)uaddr);
			b->family = family;
			if (family == AF_INET) {
				struct sockaddr_in sin = {};
				bpf_probe_read_user(&sin, sizeof(sin), (void *)uaddr);
				b->remote_port = bpf_ntohs(sin.sin_port);
				__builtin_memcpy(b->remote_addr, &sin.sin_addr, 4);
			} else if (family == AF_INET6) {
				struct sockaddr_in6 sin6 = {};
				bpf_probe_read_user(&sin6, sizeof(sin6), (void *)uaddr);
				b->remote_port = bpf_ntohs(sin6.sin6_port);
				__builtin_memcpy(b->remote_addr, &sin6.sin6_addr, 16);
			} else if (family == AF_UNIX) {
				long n = bpf_probe_read_user_str(payload, ADDR_CAP, (void *)(uaddr + 2));
				/* abstract sockets start with NUL: keep their bytes */
				if (n <= 1 && alen > 3) {
					__u32 plen = (alen - 2) & 127;
					if (plen > ADDR_CAP - 1)
						plen = ADDR_CAP - 1;
					if (!bpf_probe_read_user(payload, plen, (void *)(uaddr + 2)))
						ulen = plen;
				} else {
					ulen = n > 0 ? (n - 1) & 127 : 0;
				}
			}
		}
	}
	if (ulen > ADDR_CAP)
		ulen = ADDR_CAP;
	b->unix_path_len = ulen;
	h->payload_len = ulen;
	emit_event(buf, sizeof(*h) + sizeof(*b) + ulen);
	return 0;
}

#define NET_EXIT(name, op)                                                    \
	SEC("tracepoint/syscalls/sys_exit_" #name)                            \
	int exit_##name(struct trace_event_raw_sys_exit *ctx)                 \
	{                                                                     \
		return finish_net(ctx->ret, op);                              \
	}

NET_EXIT(connect, NOP_CONNECT)
NET_EXIT(accept, NOP_ACCEPT)
NET_EXIT(accept4, NOP_ACCEPT)
