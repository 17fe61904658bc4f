/* SPDX-License-Identifier: (GPL-2.0 OR Apache-2.0) */
/*
 * Event layouts: the one definition. The BPF programs include it; the
 * recorder's build script generates its Rust types from it (bindgen, into
 * recorder/src/layouts.rs) and asserts the same sizes at compile time.
 * Every record starts with `struct event_header`; the body follows, then the
 * variable-length byte payload counted by the body's *_len fields.
 * Records are sent with bpf_ringbuf_output() at their real size, so a short
 * path costs a few bytes of ring space, not PATH_MAX.
 * Keep all fields naturally aligned and padding explicit.
 */
#ifndef AGENTSIGHT_H
#define AGENTSIGHT_H

#define TASK_COMM_LEN 16
#define PATH_CAP 4096        /* bytes of one path we copy (PATH_MAX) */
#define ARGV_CAP 16384       /* bytes of argv copied at exec; more sets argv_truncated */
#define SCRATCH_SIZE 32768   /* per-CPU staging buffer for one record */
#define ADDR_CAP 108         /* sizeof(sun_path); also holds an IPv6 address */
#define TLS_CHUNK_CAP 16384  /* TLS bytes carried by one record */

enum event_kind {
	EV_EXEC = 1,
	EV_FORK = 2,
	EV_EXIT = 3,
	EV_FILE = 4,
	EV_NET = 5,
	EV_TLS_DATA = 6,
	EV_TLS_META = 7,
};

enum file_op {
	FOP_OPEN = 1,
	FOP_RENAME = 2,
	FOP_UNLINK = 3,
	FOP_CHMOD = 4,
	FOP_MEMFD = 5,
	FOP_LINK = 6,
	FOP_SYMLINK = 7,
};

enum net_op {
	NOP_CONNECT = 1,
	NOP_ACCEPT = 2,
};

/* Counters in the per-CPU `stats` array, indexed by this enum. */
enum stat_counter {
	STAT_RB_RESERVE_FAIL_EVENTS = 0, /* lifecycle ring full: record lost */
	STAT_RB_RESERVE_FAIL_TLS = 1,    /* tls ring full: chunk lost */
	STAT_TLS_BYTES_LOST = 2,         /* TLS bytes not captured (cap or ring full) */
	STAT_INFLIGHT_FULL = 3,          /* syscall-entry map full, or TLS calls nested too deep: event lost */
	STAT_PID_SET_FULL = 4,           /* could not follow a new child */
	STAT_READ_FAIL = 5,              /* bpf_probe_read_* failed */
	STAT_COUNT = 8,
};

struct event_header {
	__u64 ts_ns;           /* bpf_ktime_get_boot_ns() */
	__u64 start_ns;        /* subject process start (CLOCK_BOOTTIME ns) */
	__u32 kind;            /* enum event_kind */
	__u32 pid;             /* tgid */
	__u32 tid;
	__u32 uid;
	__u32 gid;
	__u32 payload_len;     /* bytes after the body */
	__u64 cgroup_id;
	char comm[TASK_COMM_LEN];
}; /* 64 bytes */

struct exec_body {
	__u64 parent_start_ns;
	__u32 ppid;
	__u32 filename_len;    /* payload: filename, argv (NUL separated), cwd */
	__u32 argv_len;
	__u32 argv_truncated;
	__u32 cwd_len;         /* 0 when unknown; starts with "..." when deeper than the walk */
	__u32 _pad;
}; /* 32 bytes */

struct fork_body {
	__u64 parent_start_ns;
	__u32 ppid;
	__u32 flags;           /* reserved */
}; /* 16 bytes */

struct exit_body {
	__u32 exit_code;       /* raw task->exit_code: (code << 8) | signal */
	__u32 _pad;
}; /* 8 bytes */

struct file_body {
	__s64 ret;             /* fd / 0 on success, -errno on failure */
	__u32 op;              /* enum file_op */
	__s32 dfd;             /* directory fd (AT_FDCWD = -100) or target fd */
	__u32 flags;           /* open flags / rename flags / unlink flags */
	__u32 mode;
	__u32 path_len;        /* payload: path, then path2, then resolved */
	__u32 path2_len;
	/* successful opens: the path of the file the kernel opened, walked from
	 * the new fd's dentry. `path` is read from the caller's memory at exit,
	 * which the caller (another thread) may have rewritten meanwhile, and it
	 * names a symlink rather than its target. */
	__u32 resolved_len;
	__u32 _pad;
}; /* 40 bytes */

struct net_body {
	__s64 ret;
	__u32 op;              /* enum net_op */
	__s32 fd;              /* socket fd (connect), listening fd (accept) */
	__u16 family;
	__u16 local_port;      /* host order */
	__u16 remote_port;     /* host order */
	__u16 _pad;
	__u8 local_addr[16];
	__u8 remote_addr[16];
	__u32 unix_path_len;   /* payload: AF_UNIX path bytes */
	__u32 _pad2;
}; /* 64 bytes */

/* ------------------------------------------------------------------ TLS */

enum tls_func {
	TF_SSL_WRITE = 1,
	TF_SSL_READ = 2,
	TF_SSL_WRITE_EX = 3,
	TF_SSL_READ_EX = 4,
	/* OpenSSL's implementation shared by SSL_write and SSL_write_ex (and the
	 * read pair), probed instead of them when they start with an
	 * instruction the kernel would single-step. Arguments as the _ex form. */
	TF_SSL_WRITE_INTERNAL = 5,
	TF_SSL_READ_INTERNAL = 6,
	/* OpenSSL 3.3+: ssl_write_internal(s, buf, num, flags, &written), the
	 * byte count through the fifth argument. */
	TF_SSL_WRITE_INTERNAL_FLAGS = 7,
};

/* One record per chunk of at most TLS_CHUNK_CAP plaintext bytes. A call of
 * N bytes yields ceil(min(N, tls_max_bytes) / TLS_CHUNK_CAP) records with
 * chunk_index 0.., all carrying call_len = N. Bytes past tls_max_bytes are
 * counted in lost_bytes of the last chunk; a chunk the ring could not take is
 * counted in STAT_TLS_BYTES_LOST and shows as a gap in chunk_index. */
struct tls_data_body {
	__u64 ssl_ptr;
	__u64 call_seq;        /* global, increasing per call */
	__u64 chunk_offset;    /* offset of this chunk in the call's buffer */
	__u64 call_len;        /* bytes the call transferred */
	__u64 lost_bytes;      /* last chunk only: bytes past the cap */
	__u32 chunk_index;
	__u32 func;            /* enum tls_func */
	__s32 fd;              /* -1 when not known yet */
	__u32 data_len;        /* payload: the chunk's bytes */
}; /* 56 bytes */

enum tls_meta_event {
	TM_SET_FD = 1,         /* SSL_set_fd/rfd/wfd, or fd seen in a syscall during an SSL call */
	TM_SNI = 2,            /* SSL_ctrl(SSL_CTRL_SET_TLSEXT_HOSTNAME) */
	TM_SHUTDOWN = 3,
	TM_FREE = 4,
};

struct tls_meta_body {
	__u64 ssl_ptr;
	__u32 event;           /* enum tls_meta_event */
	__s32 fd;
	__u32 value_len;       /* payload: SNI host name */
	__u32 _pad;
}; /* 24 bytes */

/* The sizes the comments above promise; bindgen's layout tests hold the
 * Rust side to the same numbers. */
_Static_assert(sizeof(struct event_header) == 64, "event_header");
_Static_assert(sizeof(struct exec_body) == 32, "exec_body");
_Static_assert(sizeof(struct fork_body) == 16, "fork_body");
_Static_assert(sizeof(struct exit_body) == 8, "exit_body");
_Static_assert(sizeof(struct file_body) == 40, "file_body");
_Static_assert(sizeof(struct net_body) == 64, "net_body");
_Static_assert(sizeof(struct tls_data_body) == 56, "tls_data_body");
_Static_assert(sizeof(struct tls_meta_body) == 24, "tls_meta_body");

#endif
