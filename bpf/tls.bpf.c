// SPDX-License-Identifier: (GPL-2.0 OR Apache-2.0)
/*
 * TLS plaintext of the traced pid set, taken at the OpenSSL API boundary.
 *
 * Uprobes carry no target here: the recorder attaches each program per
 * discovered library (libssl.so.*, node, ...) by function name.
 * Data records go to `tls_ring` as `event_header + tls_data_body + bytes`;
 * connection metadata as `event_header + tls_meta_body + bytes`.
 *
 * Records are reserved in size tiers (no staging copy, no fixed 16 KiB record
 * for a 100-byte read), so a record may carry a few unused bytes after its
 * payload: readers must use data_len / value_len, never the record length.
 */
#include "common.bpf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define SSL_CTRL_SET_TLSEXT_HOSTNAME 55
#define SNI_CAP 256                 /* a DNS name is at most 253 bytes */
#define MAX_CHUNKS (1u << 20)       /* bpf_loop allows 8M; 16 GiB per call is plenty */
#define S_IFMT 00170000
#define S_IFSOCK 0140000

/* Per-call capture cap, set by the recorder (--tls-max-bytes). Bytes past it
 * are counted, never silently dropped. */
const volatile __u64 tls_max_bytes = 8ull << 20;

/* Global call sequence number: orders calls across CPUs and ties the chunks
 * of one call together. */
__u64 tls_call_seq = 0;

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 16 << 20); /* set at load: tls_ring_bytes() */
} tls_ring SEC(".maps");

/* A data call in progress: its arguments, saved at entry for the return. */
struct call_args {
	__u64 sp;               /* stack pointer at entry: identifies the call */
	__u64 ssl;
	__u64 buf;
	__u64 num;
	__u64 outp;             /* size_t * of the _ex and internal forms */
	__u32 func;             /* enum tls_func */
	__u32 _pad;
};

/* Calls in progress on one thread, nested when TLS runs over TLS (an HTTPS
 * proxy) or a callback inside one SSL call makes another. */
#define MAX_NESTED_CALLS 4

/* Per-thread state: the calls in progress, and what is needed to learn the
 * socket fd of an SSL object from the syscalls the thread makes around its
 * SSL calls. Task storage: it lives and
 * dies with the thread, and a thread without any costs the read/write
 * syscall programs (which run for every process) one pointer test instead
 * of a hash lookup. */
struct tls_thread {
	struct call_args calls[MAX_NESTED_CALLS]; /* outermost first */
	__u32 depth;            /* calls in progress */
	__s32 last_read_fd;     /* last read-type syscall outside SSL calls, -1 none */
	__u64 pending_write_ssl;/* SSL_write returned, next write syscall is its flush */
	/* The last ssl_fds answer this thread got, valid while ssl_fds_gen
	 * has not moved: a thread mostly calls into one SSL, so most calls and
	 * the syscalls inside them skip the hash lookup. */
	__u64 cached_ssl;
	__u64 cached_gen;
	__s32 cached_fd;
	__u32 _pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct tls_thread);
} tls_threads SEC(".maps");

/* (tgid, SSL*) -> socket fd. The tgid matters: forked processes reuse the
 * same heap addresses. LRU because SSL_free is not always seen (exit). */
struct ssl_key {
	__u64 ssl;
	__u32 tgid;
	__u32 _pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct ssl_key);
	__type(value, __s32);
} ssl_fds SEC(".maps");

/* Bumped after every change to ssl_fds this program makes (a binding, a
 * free), so per-thread caches of it never outlive an SSL* reused by the
 * allocator. An LRU eviction needs no bump: the cached binding stays true. */
__u64 ssl_fds_gen = 0;

struct data_rec {
	struct event_header h;
	struct tls_data_body b;
	__u8 data[];
};

struct meta_rec {
	struct event_header h;
	struct tls_meta_body b;
	__u8 value[];
};

/* Shared with the bpf_loop callback that emits the chunks of one call. */
struct emit_ctx {
	struct event_header h;  /* filled once per call */
	__u64 ssl;
	__u64 buf;
	__u64 call_seq;
	__u64 call_len;
	__u64 cap_len;          /* bytes we try to capture: min(call_len, cap) */
	__u64 lost;             /* bytes past the cap */
	__u32 nchunks;
	__u32 func;
	__s32 fd;
};

static __always_inline struct task_struct *cur_task(void)
{
	return bpf_get_current_task_btf();
}

static __always_inline void make_ssl_key(struct ssl_key *k, __u32 tgid, __u64 ssl)
{
	k->ssl = ssl;
	k->tgid = tgid;
	k->_pad = 0;
}

static __always_inline __s32 ssl_fd_of(__u32 tgid, __u64 ssl)
{
	struct ssl_key k;
	make_ssl_key(&k, tgid, ssl);
	__s32 *fd = bpf_map_lookup_elem(&ssl_fds, &k);
	return fd ? *fd : -1;
}

/* Only sockets name a connection; a heuristic must not bind a log file. */
static __always_inline int fd_is_socket(__s32 fd)
{
	struct task_struct *task = cur_task();
	struct file **fds = BPF_CORE_READ(task, files, fdt, fd);
	unsigned int max_fds = BPF_CORE_READ(task, files, fdt, max_fds);
	struct file *file = NULL;

	if (fd < 0 || (unsigned int)fd >= max_fds)
		return 0;
	if (bpf_probe_read_kernel(&file, sizeof(file), &fds[fd]) || !file)
		return 0;
	umode_t mode = BPF_CORE_READ(file, f_inode, i_mode);
	return (mode & S_IFMT) == S_IFSOCK;
}

/* Submit a record reserved in tls_ring, `size` bytes. The ring's unread
 * bytes already include it, reserved as it is. */
static __always_inline void submit_record(void *r, __u64 size)
{
	__u64 avail = bpf_ringbuf_query(&tls_ring, BPF_RB_AVAIL_DATA);
	__u64 pending = avail > size ? avail - size : 0;

	bpf_ringbuf_submit(r, rb_wake_flags(pending, size, 0));
}

static __always_inline void emit_meta(__u64 ssl, __u32 event, __s32 fd, const char *name)
{
	struct meta_rec *r;

	/* Two constant sizes: the verifier needs a known reservation size. */
	if (name)
		r = bpf_ringbuf_reserve(&tls_ring, sizeof(struct meta_rec) + SNI_CAP, 0);
	else
		r = bpf_ringbuf_reserve(&tls_ring, sizeof(struct meta_rec), 0);
	if (!r) {
		count_stat(STAT_RB_RESERVE_FAIL_TLS, 1);
		return;
	}
	fill_header(&r->h, EV_TLS_META, cur_task());
	r->b.ssl_ptr = ssl;
	r->b.event = event;
	r->b.fd = fd;
	r->b.value_len = 0;
	r->b._pad = 0;
	if (name) {
		long n = bpf_probe_read_user_str(r->value, SNI_CAP, name);
		if (n < 0)
			count_stat(STAT_READ_FAIL, 1);
		r->b.value_len = n > 0 ? n - 1 : 0; /* without the NUL */
		r->h.payload_len = r->b.value_len;
	}
	submit_record(r, name ? sizeof(struct meta_rec) + SNI_CAP : sizeof(struct meta_rec));
}

/* Record ssl -> fd once; later observations of the same pair are free. */
static __always_inline void bind_fd(__u32 tgid, __u64 ssl, __s32 fd, int explicit_set)
{
	struct ssl_key k;
	make_ssl_key(&k, tgid, ssl);
	__s32 *old = bpf_map_lookup_elem(&ssl_fds, &k);

	if (old && (*old == fd || !explicit_set))
		return;
	/* Syscall-derived fds are guesses until proven a socket. */
	if (!explicit_set && !fd_is_socket(fd))
		return;
	bpf_map_update_elem(&ssl_fds, &k, &fd, BPF_ANY);
	__sync_fetch_and_add(&ssl_fds_gen, 1);
	emit_meta(ssl, TM_SET_FD, fd, NULL);
}

/* ssl_fd_of through the thread's cache. The generation is read before the
 * map: a change racing with the lookup then only costs a later re-lookup. */
static __always_inline __s32 cached_ssl_fd(struct tls_thread *th, __u32 tgid, __u64 ssl)
{
	__u64 gen = *(volatile __u64 *)&ssl_fds_gen;

	if (th->cached_ssl == ssl && th->cached_gen == gen)
		return th->cached_fd;
	__s32 fd = ssl_fd_of(tgid, ssl);
	th->cached_ssl = ssl;
	th->cached_gen = gen;
	th->cached_fd = fd;
	return fd;
}

/* This program's state of `task`, or NULL. Most tasks have no BPF task
 * storage at all: one load rules them out, where the storage helper costs
 * ~60 ns (every read() of an untraced process, every SSL call of an untraced
 * process sharing the library). */
static __always_inline struct tls_thread *state_of(struct task_struct *task)
{
	if (!task->bpf_storage)
		return NULL;
	return bpf_task_storage_get(&tls_threads, task, 0, 0);
}

static __always_inline struct tls_thread *new_state_of(struct task_struct *task)
{
	struct tls_thread fresh = { .last_read_fd = -1, .cached_fd = -1 };

	return bpf_task_storage_get(&tls_threads, task, &fresh,
				    BPF_LOCAL_STORAGE_GET_F_CREATE);
}

/* The innermost call in progress, or NULL. */
static __always_inline struct call_args *innermost_call(struct tls_thread *th)
{
	__u32 d = th->depth;

	if (d == 0 || d > MAX_NESTED_CALLS)
		return NULL;
	barrier_var(d); /* as in data_entry: keep the mask */
	return &th->calls[(d - 1) & (MAX_NESTED_CALLS - 1)];
}

/* ------------------------------------------------------------ data calls */

/* The byte count comes back through a size_t * argument, not the return. */
static __always_inline int has_out_param(__u32 func)
{
	return func != TF_SSL_WRITE && func != TF_SSL_READ;
}

static __always_inline int is_read(__u32 func)
{
	return func == TF_SSL_READ || func == TF_SSL_READ_EX || func == TF_SSL_READ_INTERNAL;
}

/* Records a data call's arguments; 1 when recorded (the return matters). */
static __always_inline int data_entry(struct pt_regs *ctx, __u32 func, __u64 ssl,
				      __u64 buf, __u64 num, __u64 outp)
{
	/* A thread has state only once a traced process made a data call, and a
	 * process stays traced until it exits: then the pid lookup is done. */
	struct task_struct *task = cur_task();
	struct tls_thread *th = state_of(task);
	if (!th) {
		if (!is_traced(task->tgid))
			return 0;
		th = new_state_of(task);
		if (!th)
			return 0;
	}
	__u64 sp = PT_REGS_SP(ctx);

	/* A recorded call whose frame this one reuses has ended without its
	 * return being seen (a probe attached mid-call, a longjmp): drop it. */
	for (int i = 0; i < MAX_NESTED_CALLS; i++) {
		struct call_args *top = innermost_call(th);
		if (!top || top->sp > sp)
			break;
		th->depth--;
	}
	/* A call nested in one of the same direction on the same SSL carries
	 * the same bytes (LibreSSL's SSL_write_ex calls SSL_write; a public
	 * function probed at entry may reach a probed internal one): keep the
	 * outer one. The other direction is real data: node's handshake-done
	 * callback, run inside SSL_read, sends the queued request. */
	struct call_args *outer = innermost_call(th);
	if (outer && outer->ssl == ssl && is_read(outer->func) == is_read(func))
		return 0;

	__u32 d = th->depth;
	if (d >= MAX_NESTED_CALLS) {
		count_stat(STAT_INFLIGHT_FULL, 1);
		return 0;
	}
	/* Keep the mask: the compiler may drop it as redundant after the test,
	 * and the verifier needs it to bound the index. */
	barrier_var(d);
	struct call_args *a = &th->calls[d & (MAX_NESTED_CALLS - 1)];
	a->sp = sp;
	a->ssl = ssl;
	a->buf = buf;
	a->num = num;
	a->outp = outp;
	a->func = func;
	th->depth = d + 1;
	th->pending_write_ssl = 0;
	return 1;
}

/* Reserve a record of DATA_TIER payload bytes and fill it. DATA_TIER is a
 * constant after inlining, as bpf_ringbuf_reserve requires. */
static __always_inline int emit_tier(struct emit_ctx *c, __u32 i, __u64 off, __u64 d,
				     __u64 lost, const __u32 tier)
{
	struct data_rec *r = bpf_ringbuf_reserve(&tls_ring, sizeof(struct data_rec) + tier, 0);
	if (!r)
		return -1;
	__builtin_memcpy(&r->h, &c->h, sizeof(r->h));
	r->b.ssl_ptr = c->ssl;
	r->b.call_seq = c->call_seq;
	r->b.chunk_offset = off;
	r->b.call_len = c->call_len;
	r->b.chunk_index = i;
	r->b.func = c->func;
	r->b.fd = c->fd;
	if (d > tier)
		d = tier;
	if (bpf_probe_read_user(r->data, d, (void *)(c->buf + off))) {
		/* Say where the hole is rather than leaving only a counter. */
		count_stat(STAT_READ_FAIL, 1);
		count_stat(STAT_TLS_BYTES_LOST, d);
		lost += d;
		d = 0;
	}
	r->b.lost_bytes = lost;
	r->b.data_len = d;
	r->h.payload_len = d;
	submit_record(r, sizeof(struct data_rec) + tier);
	return 0;
}

static long emit_chunk(__u32 i, void *data)
{
	struct emit_ctx *c = data;
	__u64 off = (__u64)i * TLS_CHUNK_CAP;
	__u64 d = 0, lost = 0;
	int err;

	if (i >= c->nchunks)
		return 1;
	if (off < c->cap_len) {
		d = c->cap_len - off;
		if (d > TLS_CHUNK_CAP)
			d = TLS_CHUNK_CAP;
	}
	if (i == c->nchunks - 1)
		lost = c->lost;

	/* Power-of-two tiers: at most 2x slack, one reservation per chunk. */
	if (d <= 64)
		err = emit_tier(c, i, off, d, lost, 64);
	else if (d <= 256)
		err = emit_tier(c, i, off, d, lost, 256);
	else if (d <= 1024)
		err = emit_tier(c, i, off, d, lost, 1024);
	else if (d <= 2048)
		err = emit_tier(c, i, off, d, lost, 2048);
	else if (d <= 4096)
		err = emit_tier(c, i, off, d, lost, 4096);
	else if (d <= 8192)
		err = emit_tier(c, i, off, d, lost, 8192);
	else
		err = emit_tier(c, i, off, d, lost, TLS_CHUNK_CAP);
	if (err) {
		/* Ring full: give up on the rest of this call (cheapest when
		 * the consumer is behind); count every chunk and byte not sent. */
		count_stat(STAT_RB_RESERVE_FAIL_TLS, c->nchunks - i);
		count_stat(STAT_TLS_BYTES_LOST, c->cap_len > off ? c->cap_len - off : 0);
		return 1;
	}
	return 0;
}

static __always_inline int data_return(struct pt_regs *ctx, long ret)
{
	/* Only traced threads have state (data_entry checked): untraced
	 * processes sharing the library return here. One task pointer serves
	 * the whole return: each helper call costs. */
	struct task_struct *task = cur_task();
	struct tls_thread *th = state_of(task);
	if (!th)
		return 0;
	__u32 tgid = task->tgid;
	/* The return pops the return address on x86; arm64 keeps it in LR. */
#if defined(__TARGET_ARCH_x86)
	__u64 entry_sp = PT_REGS_SP(ctx) - 8;
#else
	__u64 entry_sp = PT_REGS_SP(ctx);
#endif
	/* Normally the innermost call; calls above it whose returns were
	 * missed are dropped. */
	struct call_args a = {};
	int found = 0;
	for (int i = 0; i < MAX_NESTED_CALLS; i++) {
		struct call_args *top = innermost_call(th);
		if (!top)
			break;
		th->depth--;
		if (top->sp == entry_sp) {
			a = *top;
			found = 1;
			break;
		}
		if (top->sp > entry_sp) {
			/* An outer call: this return belongs to a call not recorded
			 * (nested duplicate, or one that started before the probes). */
			th->depth++;
			break;
		}
	}
	if (!found)
		return 0;

	/* Bytes transferred: the return for SSL_read/SSL_write; otherwise a
	 * positive return (1) and the out-parameter. */
	__u64 len = 0;
	if (has_out_param(a.func)) {
		if (ret <= 0 || !a.outp)
			return 0;
		if (bpf_probe_read_user(&len, sizeof(len), (void *)a.outp)) {
			count_stat(STAT_READ_FAIL, 1);
			return 0;
		}
	} else {
		if (ret <= 0)
			return 0;
		len = ret;
	}
	if (len == 0)
		return 0;
	if (len > a.num) /* never read past the caller's buffer */
		len = a.num;

	__s32 fd = cached_ssl_fd(th, tgid, a.ssl);
	if (fd < 0) {
		if (is_read(a.func)) {
			/* Memory-BIO clients (node) read the socket, then
			 * decrypt with SSL_read on the same thread. */
			if (th->last_read_fd >= 0) {
				bind_fd(tgid, a.ssl, th->last_read_fd, 0);
				fd = cached_ssl_fd(th, tgid, a.ssl);
			}
		} else {
			/* ...and flush SSL_write's output with the next write. */
			th->pending_write_ssl = a.ssl;
		}
	}

	struct emit_ctx c = {};
	fill_header(&c.h, EV_TLS_DATA, task);
	c.ssl = a.ssl;
	c.buf = a.buf;
	c.call_seq = __sync_fetch_and_add(&tls_call_seq, 1);
	c.call_len = len;
	c.cap_len = len < tls_max_bytes ? len : tls_max_bytes;
	if (c.cap_len > (__u64)MAX_CHUNKS * TLS_CHUNK_CAP)
		c.cap_len = (__u64)MAX_CHUNKS * TLS_CHUNK_CAP;
	c.lost = len - c.cap_len;
	/* At least one record, so a call past a zero cap is still visible. */
	c.nchunks = c.cap_len ? (c.cap_len + TLS_CHUNK_CAP - 1) / TLS_CHUNK_CAP : 1;
	c.func = a.func;
	c.fd = fd;
	if (c.lost)
		count_stat(STAT_TLS_BYTES_LOST, c.lost);
	/* Most calls fit one record: skip the loop helper and its callback. */
	if (c.nchunks == 1)
		emit_chunk(0, &c);
	else
		bpf_loop(c.nchunks, emit_chunk, &c, 0);
	return 0;
}

/* The data functions' entry: which one is in the attach cookie (enum
 * tls_func), so one program serves every probe. */
static __always_inline int data_entry_regs(struct pt_regs *ctx)
{
	__u32 func = bpf_get_attach_cookie(ctx);
	__u64 ssl = PT_REGS_PARM1(ctx), buf = PT_REGS_PARM2(ctx);

	if (func == TF_SSL_WRITE || func == TF_SSL_READ) {
		int num = (int)PT_REGS_PARM3(ctx);
		return data_entry(ctx, func, ssl, buf, num > 0 ? num : 0, 0);
	}
	if (func == TF_SSL_WRITE_INTERNAL_FLAGS)
		return data_entry(ctx, func, ssl, buf, PT_REGS_PARM3(ctx), PT_REGS_PARM5(ctx));
	return data_entry(ctx, func, ssl, buf, PT_REGS_PARM3(ctx), PT_REGS_PARM4(ctx));
}

SEC("uprobe")
int uprobe_ssl_data(struct pt_regs *ctx)
{
	data_entry_regs(ctx);
	return 0;
}

/* Paired with uprobe_ssl_data: the arguments saved at entry say the rest. */
SEC("uretprobe")
int BPF_KRETPROBE(uretprobe_ssl_data, int ret)
{
	return data_return(ctx, ret);
}

extern bool bpf_session_is_return(void) __ksym __weak;

/* Entry and return in one program (uprobe_multi session, Linux 6.13+).
 * Returning 1 at entry tells the kernel not to hook this call's return, so
 * untraced processes that share the library skip the return trap. */
SEC("uprobe.session")
int ssl_data_session(struct pt_regs *ctx)
{
	if (bpf_session_is_return()) {
		data_return(ctx, (int)PT_REGS_RC(ctx));
		return 0;
	}
	return data_entry_regs(ctx) ? 0 : 1;
}

/* ------------------------------------------------------- identity, end */

static __always_inline int set_fd(void *ssl, int fd)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	if (!is_traced(tgid))
		return 0;
	bind_fd(tgid, (__u64)ssl, fd, 1);
	return 0;
}

SEC("uprobe")
int BPF_KPROBE(uprobe_SSL_set_fd, void *ssl, int fd)
{
	return set_fd(ssl, fd);
}

SEC("uprobe")
int BPF_KPROBE(uprobe_SSL_set_rfd, void *ssl, int fd)
{
	return set_fd(ssl, fd);
}

SEC("uprobe")
int BPF_KPROBE(uprobe_SSL_set_wfd, void *ssl, int fd)
{
	return set_fd(ssl, fd);
}

static __always_inline int sni(void *ssl, const char *name)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	if (!is_traced(tgid) || !name)
		return 0;
	emit_meta((__u64)ssl, TM_SNI, ssl_fd_of(tgid, (__u64)ssl), name);
	return 0;
}

/* OpenSSL: SSL_set_tlsext_host_name() is a macro over SSL_ctrl, which many
 * other macros use too, so test the command before anything else. */
SEC("uprobe")
int BPF_KPROBE(uprobe_SSL_ctrl, void *ssl, int cmd, long larg, void *parg)
{
	if (cmd != SSL_CTRL_SET_TLSEXT_HOSTNAME)
		return 0;
	return sni(ssl, parg);
}

/* BoringSSL exports SSL_set_tlsext_host_name as a function; attach this
 * where that symbol exists. */
SEC("uprobe")
int BPF_KPROBE(uprobe_SSL_set_tlsext_host_name, void *ssl, const char *name)
{
	return sni(ssl, name);
}

SEC("uprobe")
int BPF_KPROBE(uprobe_SSL_shutdown, void *ssl)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	if (!is_traced(tgid))
		return 0;
	emit_meta((__u64)ssl, TM_SHUTDOWN, ssl_fd_of(tgid, (__u64)ssl), NULL);
	return 0;
}

SEC("uprobe")
int BPF_KPROBE(uprobe_SSL_free, void *ssl)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	if (!is_traced(tgid) || !ssl)
		return 0;
	struct ssl_key k;
	make_ssl_key(&k, tgid, (__u64)ssl);
	emit_meta((__u64)ssl, TM_FREE, ssl_fd_of(tgid, (__u64)ssl), NULL);
	/* The allocator will hand this address to the next SSL. */
	bpf_map_delete_elem(&ssl_fds, &k);
	__sync_fetch_and_add(&ssl_fds_gen, 1);
	return 0;
}

/* ------------------------------------------------- fd from the syscalls */

/* A read or write syscall of a thread that made traced SSL calls. */
static __always_inline int on_io(struct tls_thread *th, __s32 fd, int is_write)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	struct call_args *in_call = innermost_call(th);
	if (in_call) {
		/* Socket BIO or a custom BIO (curl): the transport I/O
		 * happens inside the SSL call. */
		if (cached_ssl_fd(th, tgid, in_call->ssl) < 0)
			bind_fd(tgid, in_call->ssl, fd, 0);
		return 0;
	}
	if (is_write) {
		__u64 ssl = th->pending_write_ssl;
		if (ssl) {
			th->pending_write_ssl = 0; /* one-shot */
			bind_fd(tgid, ssl, fd, 0);
		}
	} else {
		th->last_read_fd = fd;
	}
	return 0;
}

/* Syscall numbers of the transport I/O family; the fd is the first argument. */
#if defined(__TARGET_ARCH_x86)
enum io_nr { NR_READ = 0, NR_WRITE = 1, NR_READV = 19, NR_WRITEV = 20,
	     NR_SENDTO = 44, NR_RECVFROM = 45, NR_SENDMSG = 46, NR_RECVMSG = 47 };
#define SYSCALL_FD(regs) ((regs)->di)
#elif defined(__TARGET_ARCH_arm64)
enum io_nr { NR_READ = 63, NR_WRITE = 64, NR_READV = 65, NR_WRITEV = 66,
	     NR_SENDTO = 206, NR_RECVFROM = 207, NR_SENDMSG = 211, NR_RECVMSG = 212 };
#define SYSCALL_FD(regs) ((regs)->regs[0])
#endif

/* Hot path for every process on the host. One BTF raw tracepoint for all
 * syscalls: a direct call and a switch cost every syscall a few ns, where
 * per-syscall perf tracepoints cost each read and write ~180 ns (they build
 * a perf record before running the program). */
SEC("tp_btf/sys_enter")
int BPF_PROG(tls_sys_enter, struct pt_regs *regs, long id)
{
	int is_write;

	switch (id) {
	case NR_WRITE:
	case NR_WRITEV:
	case NR_SENDTO:
	case NR_SENDMSG:
		is_write = 1;
		break;
	case NR_READ:
	case NR_READV:
	case NR_RECVFROM:
	case NR_RECVMSG:
		is_write = 0;
		break;
	default:
		return 0;
	}
	struct tls_thread *th = state_of(cur_task());
	if (!th)
		return 0;
	return on_io(th, (__s32)SYSCALL_FD(regs), is_write);
}
