//! Loading and attaching the BPF skeletons built by build.rs.

use std::ffi::OsStr;
use std::mem::MaybeUninit;
use std::path::Path;

use anyhow::{anyhow, Context, Result};
use libbpf_rs::skel::{OpenSkel, SkelBuilder};
use libbpf_rs::{Link, MapCore, MapFlags, OpenObject};

#[allow(
    clippy::all,
    dead_code,
    unused_imports,
    non_camel_case_types,
    non_snake_case,
    non_upper_case_globals
)]
pub mod lifecycle {
    include!(concat!(env!("OUT_DIR"), "/lifecycle.skel.rs"));
}

use lifecycle::{LifecycleSkel, LifecycleSkelBuilder};

/// Counter names for the `stats` array, in `enum stat_counter` order.
pub const STAT_NAMES: &[&str] = &[
    "ringbuf_reserve_fail_events",
    "ringbuf_reserve_fail_tls",
    "tls_bytes_lost",
    "inflight_map_full",
    "pid_set_full",
    "bpf_read_failures",
];

/// Size of the lifecycle `events` ring buffer. The consumer maps its data
/// pages twice (wrap-around view), all resident: this costs 2x in RSS. 8 MiB
/// holds >100 ms of the fastest storm we measured (~600k events/s of ~130 B),
/// and the BPF side wakes the recorder at every 1/8 of it.
pub const EVENTS_RING_BYTES: u32 = 8 << 20;

pub struct LoadConfig {
    pub self_tgid: u32,
    pub launcher_tgid: u32,
    pub trace_all: bool,
    pub comm_filter: bool,
}

const TRACEFS: &str = "/sys/kernel/tracing";

/// Syscall tracepoints need tracefs; mount it when the host has not.
fn ensure_tracefs() -> Result<()> {
    if Path::new(TRACEFS).join("events").exists() {
        return Ok(());
    }
    let status = std::process::Command::new("mount")
        .args(["-t", "tracefs", "tracefs", TRACEFS])
        .status();
    match status {
        Ok(s) if s.success() => Ok(()),
        _ => Err(anyhow!("tracefs is not mounted at {TRACEFS} and mounting it failed; run `mount -t tracefs tracefs {TRACEFS}`")),
    }
}

/// `tracepoint/<category>/<name>` sections whose tracepoint this kernel lacks
/// (e.g. fchmodat2 before 6.6) are skipped instead of failing the load.
fn tracepoint_exists(section: &OsStr) -> bool {
    let s = section.to_string_lossy();
    match s.strip_prefix("tracepoint/") {
        Some(rest) => Path::new(TRACEFS).join("events").join(rest).exists(),
        None => true,
    }
}

pub fn disable_missing_tracepoints(obj: &mut OpenObject) {
    for mut prog in obj.progs_mut() {
        if !tracepoint_exists(prog.section()) {
            prog.set_autoload(false);
        }
    }
}

pub fn explain_load_error(e: &libbpf_rs::Error) -> String {
    let text = e.to_string();
    if text.contains("Operation not permitted") || text.contains("EPERM") {
        format!("loading eBPF programs was refused ({text}): agentsight record needs root (CAP_BPF, CAP_PERFMON, CAP_SYS_RESOURCE)")
    } else {
        format!("loading eBPF programs failed: {text}")
    }
}

pub fn load_lifecycle<'obj>(
    storage: &'obj mut MaybeUninit<OpenObject>,
    cfg: &LoadConfig,
) -> Result<LifecycleSkel<'obj>> {
    ensure_tracefs()?;
    let mut open = LifecycleSkelBuilder::default()
        .open(storage)
        .map_err(|e| anyhow!(explain_load_error(&e)))?;
    let rodata = open
        .maps
        .rodata_data
        .as_deref_mut()
        .ok_or_else(|| anyhow!("BPF object has no rodata"))?;
    rodata.self_tgid = cfg.self_tgid;
    rodata.launcher_tgid = cfg.launcher_tgid;
    rodata.trace_all = cfg.trace_all as u8;
    rodata.comm_filter_on = cfg.comm_filter as u8;
    rodata.ring_bytes = EVENTS_RING_BYTES.into();
    open.maps
        .events
        .set_max_entries(EVENTS_RING_BYTES)
        .context("sizing the events ring buffer")?;
    disable_missing_tracepoints(open.open_object_mut());
    open.load().map_err(|e| anyhow!(explain_load_error(&e)))
}

/// Attaches every loaded program that has a target in its section
/// (tracepoints, BTF tracepoints); uprobes are attached per library elsewhere.
pub fn attach_auto(obj: &mut libbpf_rs::Object) -> Result<Vec<Link>> {
    let mut links = Vec::new();
    for prog in obj.progs_mut() {
        let section = prog.section().to_string_lossy().into_owned();
        if !prog.autoload() || section.starts_with("uprobe") || section.starts_with("uretprobe") {
            continue;
        }
        links.push(
            prog.attach()
                .with_context(|| format!("attaching {section}"))?,
        );
    }
    Ok(links)
}

/// Detaching waits for an RCU grace period per probe (~100 ms here); closing
/// links from parallel threads overlaps those waits instead of adding them up.
pub fn detach_parallel(links: Vec<Link>) {
    std::thread::scope(|scope| {
        for link in links {
            scope.spawn(move || drop(link));
        }
    });
}

pub fn follow_pid(skel: &LifecycleSkel, pid: u32) -> Result<()> {
    skel.maps
        .traced
        .update(&pid.to_ne_bytes(), &[1u8], MapFlags::ANY)
        .with_context(|| format!("adding pid {pid} to the traced set"))
}

pub fn add_comm_filter(skel: &LifecycleSkel, key: &[u8; 16]) -> Result<()> {
    skel.maps
        .comm_filter
        .update(key, &[1u8], MapFlags::ANY)
        .context("adding comm filter")
}

/// Per-CPU values of every counter: (counter index, cpu, value).
pub fn read_stats(skel: &LifecycleSkel) -> Vec<(usize, usize, u64)> {
    let mut out = Vec::new();
    for (idx, _) in STAT_NAMES.iter().enumerate() {
        let key = (idx as u32).to_ne_bytes();
        if let Ok(Some(per_cpu)) = skel.maps.stats.lookup_percpu(&key, MapFlags::ANY) {
            for (cpu, raw) in per_cpu.iter().enumerate() {
                let v = raw
                    .get(..8)
                    .and_then(|b| b.try_into().ok())
                    .map(u64::from_ne_bytes)
                    .unwrap_or(0);
                out.push((idx, cpu, v));
            }
        }
    }
    out
}
