/* SPDX-License-Identifier: (GPL-2.0 OR Apache-2.0) */
/*
 * Maps and helpers shared by every BPF program. Each .bpf.c includes this once;
 * the recorder makes the TLS skeleton reuse the lifecycle skeleton's `traced`
 * and `stats` maps so both follow one pid set and report into one set of
 * counters.
 */
#ifndef AGENTSIGHT_COMMON_BPF_H
#define AGENTSIGHT_COMMON_BPF_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include "agentsight.h"

/* Set by the recorder before load. */
const volatile __u32 self_tgid = 0;     /* the recorder: never traced */
const volatile __u8 trace_all = 0;      /* system-wide mode */

/* tgid -> 1 for every process we follow; children are added at fork. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, __u32);
	__type(value, __u8);
} traced SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, STAT_COUNT);
	__type(key, __u32);
	__type(value, __u64);
} stats SEC(".maps");

/* One staging buffer per CPU: records are assembled here, then copied into a
 * ring buffer at their exact size. */
struct scratch_buf {
	__u8 data[SCRATCH_SIZE];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct scratch_buf);
} scratch SEC(".maps");

static __always_inline void count_stat(__u32 counter, __u64 delta)
{
	__u64 *v = bpf_map_lookup_elem(&stats, &counter);
	if (v)
		*v += delta;
}

static __always_inline int is_traced(__u32 tgid)
{
	if (tgid == self_tgid)
		return 0;
	if (trace_all)
		return 1;
	return bpf_map_lookup_elem(&traced, &tgid) != NULL;
}

static __always_inline __u8 *scratch_area(void)
{
	__u32 zero = 0;
	return (__u8 *)bpf_map_lookup_elem(&scratch, &zero);
}

/* Ring-buffer wakeups. By default the kernel wakes the consumer for every
 * record it finds caught up, and the recorder is nearly always caught up, so
 * every record cost an irq_work self-IPI (a hypervisor trap on VMs) in the
 * traced thread. Instead records go in without a wakeup and the recorder
 * drains on its poll timeout (100 ms), except:
 *  - the record that carries the unread backlog across a multiple of 1/8 of
 *    the ring wakes it, so a burst is drained long before the ring fills;
 *  - records the recorder must act on at once (first exec of a binary, a TLS library opened:
 *    new code that may hold TLS to hook) wake it unconditionally.
 * `pending` is the unread bytes before this record, `size` its length. */
#define RB_WAKE_FRACTION 8

/* The size of this object's one ring buffer, set by the recorder along with
 * the ring: a constant instead of a helper call per record. */
const volatile __u64 ring_bytes = 0;

static __always_inline __u64 rb_wake_flags(__u64 pending, __u64 size, int urgent)
{
	if (urgent)
		return BPF_RB_FORCE_WAKEUP;
	__u64 mark = ring_bytes / RB_WAKE_FRACTION;
	if (!mark || pending / mark != (pending + size) / mark)
		return BPF_RB_FORCE_WAKEUP;
	return BPF_RB_NO_WAKEUP;
}

/* Fill the common header for `task` (the process the event is about).
 * `task` must be a BTF pointer (a tp_btf argument, bpf_get_current_task_btf()):
 * its fields are then plain loads, not one bpf_probe_read_kernel call each. */
static __always_inline void fill_header(struct event_header *h, __u32 kind,
					struct task_struct *task)
{
	const struct cred *cred = task->cred;

	h->ts_ns = bpf_ktime_get_boot_ns();
	h->start_ns = task->group_leader->start_boottime;
	h->kind = kind;
	h->pid = task->tgid;
	h->tid = task->pid;
	h->uid = cred->uid.val;
	h->gid = cred->gid.val;
	h->payload_len = 0;
	/* What bpf_get_current_cgroup_id() returns, as plain loads, and of
	 * `task` rather than of whichever task runs. */
	h->cgroup_id = task->cgroups->dfl_cgrp->kn->id;
	__builtin_memcpy(&h->comm, task->comm, sizeof(h->comm));
}

#endif
