//! `agentsight record`: load the BPF programs, follow the targets, drain the
//! ring buffers into row buffers, and hand batches to a writer thread that
//! owns the capture. No protocol decoding happens here.

mod bpf;
mod events;
mod layouts;
mod procfs;
mod tls;

use std::borrow::Cow;
use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::mem::MaybeUninit;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use agentsight_capture::arrow::record_batch::RecordBatch;
use agentsight_capture::manifest::{Manifest, RecordOptions, Targets};
use agentsight_capture::rows::{RowBuffers, StatRow};
use agentsight_capture::{prepare_output_dir, CaptureWriter, SealPolicy};
use anyhow::{bail, Context, Result};
use clap::Args;
use libbpf_rs::skel::Skel;

/// How often buffered events are handed to the writer and journals written
/// out: the most a `kill -9` of the recorder can lose.
const FLUSH_INTERVAL: Duration = Duration::from_secs(1);
/// Hand over early when this many rows are buffered, to bound memory.
const MAX_BUFFERED_ROWS: usize = 65_536;
/// ...or this much TLS plaintext: it also keeps each batch's buffers small
/// enough for the allocator to reuse, instead of mapping fresh pages for
/// every batch (a quarter of the recorder's CPU at 30 MB/s of TLS).
const MAX_BUFFERED_TLS_BYTES: usize = 8 << 20;
/// The longest a record waits in a ring buffer: most are submitted without a
/// wakeup and drained when this expires.
const POLL_TIMEOUT: Duration = Duration::from_millis(100);
/// After asking a launched command to stop, how long before SIGKILL.
const CHILD_GRACE: Duration = Duration::from_secs(3);

#[derive(Args, Debug)]
pub struct RecordArgs {
    /// Capture directory to create.
    #[arg(short = 'o', long = "output", default_value = "agentsight-capture")]
    pub output: PathBuf,
    /// Replace the output directory if it holds a previous capture.
    #[arg(long)]
    pub force: bool,
    /// Stop after this many seconds.
    #[arg(long)]
    pub duration: Option<f64>,
    /// Follow this process and its descendants (repeatable).
    #[arg(short = 'p', long = "pid")]
    pub pids: Vec<u32>,
    /// Follow processes with this command name, and their descendants (repeatable).
    #[arg(long = "comm")]
    pub comms: Vec<String>,
    /// Seal a segment when it reaches this size (e.g. 64M, 1G).
    #[arg(long, default_value = "64M", value_parser = parse_size)]
    pub segment_size: u64,
    /// Seal a segment after this many seconds.
    #[arg(long, default_value_t = 300)]
    pub segment_secs: u64,
    /// Per TLS call, capture at most this many bytes; the rest is counted as lost.
    #[arg(long, default_value = "8M", value_parser = parse_size)]
    pub tls_max_bytes: u64,
    /// Store credentials unmasked: header values (Authorization, x-api-key, cookie...) and secrets in command lines.
    #[arg(long)]
    pub no_redact: bool,
    /// Extra header name whose value is masked (repeatable).
    #[arg(long = "redact-header")]
    pub redact_headers: Vec<String>,
    /// Do not print the end-of-recording summary.
    #[arg(short, long)]
    pub quiet: bool,
    /// Command to launch and record, with its arguments (after `--`).
    #[arg(last = true)]
    pub command: Vec<String>,
}

fn parse_size(s: &str) -> std::result::Result<u64, String> {
    let s = s.trim();
    let (num, mult) = match s.char_indices().find(|(_, c)| c.is_ascii_alphabetic()) {
        Some((i, _)) => {
            let unit = s[i..].to_ascii_lowercase();
            let mult = match unit.trim_end_matches("ib").trim_end_matches('b') {
                "" => 1,
                "k" => 1 << 10,
                "m" => 1 << 20,
                "g" => 1 << 30,
                _ => return Err(format!("unknown size unit in {s:?} (use K, M or G)")),
            };
            (&s[..i], mult)
        }
        None => (s, 1),
    };
    let n: u64 = num
        .trim()
        .parse()
        .map_err(|_| format!("not a size: {s:?}"))?;
    n.checked_mul(mult)
        .ok_or_else(|| format!("size too large: {s:?}"))
}

enum ToWriter {
    Batches(Vec<(&'static str, RecordBatch)>),
    Flush,
    Close(Box<Manifest>),
}

/// Counters kept by the userspace side of the recorder.
#[derive(Default)]
struct UserCounters {
    events_received: u64,
    bytes_received: u64,
    parse_errors: u64,
}

struct DrainState {
    buffers: RowBuffers,
    counters: UserCounters,
    /// Processes whose mappings may hold new TLS to hook.
    rescan: Vec<u32>,
    /// Processes that ended. Their TLS stream state is dropped only after
    /// both rings were drained: records are batched, and the TLS ring can
    /// still hold their last chunks when the exit is read from `events`.
    exited: Vec<u32>,
    tls: tls::TlsRecords,
}

impl DrainState {
    fn received(&mut self, rec: &[u8]) {
        self.counters.events_received += 1;
        self.counters.bytes_received += rec.len() as u64;
    }

    /// A record from the lifecycle ring.
    fn store_lifecycle(&mut self, rec: &[u8], redactor: Option<&agentsight_redact::Redactor>) {
        self.received(rec);
        match events::store_lifecycle_record(rec, &mut self.buffers, &procfs::cwd_of, redactor) {
            Some(events::Followup::Exec { pid } | events::Followup::Rescan { pid }) => {
                self.rescan.push(pid)
            }
            Some(events::Followup::Exit { pid }) => self.exited.push(pid),
            Some(events::Followup::None) => {}
            None => self.counters.parse_errors += 1,
        }
    }

    /// A record from the TLS ring.
    fn store_tls(&mut self, rec: &[u8]) {
        self.received(rec);
        if self.tls.store(rec, &mut self.buffers).is_none() {
            self.counters.parse_errors += 1;
        }
    }

    fn forget_exited(&mut self) {
        for pid in self.exited.drain(..) {
            self.tls.process_exited(pid);
        }
    }
}

fn stop_signals() -> Result<Arc<AtomicBool>> {
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [
        signal_hook::consts::SIGINT,
        signal_hook::consts::SIGTERM,
        signal_hook::consts::SIGHUP,
        signal_hook::consts::SIGQUIT,
    ] {
        signal_hook::flag::register(sig, Arc::clone(&stop)).context("installing signal handler")?;
    }
    Ok(stop)
}

fn exit_code_of(status: std::process::ExitStatus) -> i32 {
    use std::os::unix::process::ExitStatusExt;
    status
        .code()
        .unwrap_or_else(|| 128 + status.signal().unwrap_or(0))
}

fn launch(command: &[String]) -> Result<Child> {
    let mut cmd = Command::new(&command[0]);
    cmd.args(&command[1..]);
    // SAFETY: prctl is async-signal-safe; it makes the command die with the
    // recorder (even on kill -9) so no orphan keeps running unrecorded.
    unsafe {
        cmd.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    cmd.spawn()
        .with_context(|| format!("starting {}", command[0]))
}

/// Asks the launched command to stop, then insists.
fn terminate(child: &mut Child) -> Option<std::process::ExitStatus> {
    if let Ok(Some(status)) = child.try_wait() {
        return Some(status);
    }
    // SAFETY: plain kill(2) on our own child's pid.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let deadline = Instant::now() + CHILD_GRACE;
    while Instant::now() < deadline {
        if let Ok(Some(status)) = child.try_wait() {
            return Some(status);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    child.wait().ok()
}

fn human_bytes(n: u64) -> String {
    match n {
        n if n >= 1 << 30 => format!("{:.1} GiB", n as f64 / (1u64 << 30) as f64),
        n if n >= 1 << 20 => format!("{:.1} MiB", n as f64 / (1u64 << 20) as f64),
        n if n >= 1 << 10 => format!("{:.1} KiB", n as f64 / 1024.0),
        n => format!("{n} B"),
    }
}

/// What `record` follows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum TargetMode {
    /// The command after `--` and its descendants.
    Command,
    /// `--pid` processes and their descendants.
    Pids,
    /// Processes whose comm matches `--comm`, and their descendants.
    Comm,
    PidsAndComm,
    /// Every process on the host.
    System,
}

impl TargetMode {
    fn of(args: &RecordArgs) -> TargetMode {
        match (
            !args.command.is_empty(),
            !args.pids.is_empty(),
            !args.comms.is_empty(),
        ) {
            (true, _, _) => TargetMode::Command,
            (false, true, true) => TargetMode::PidsAndComm,
            (false, true, false) => TargetMode::Pids,
            (false, false, true) => TargetMode::Comm,
            (false, false, false) => TargetMode::System,
        }
    }

    /// As the manifest's `targets.mode` names it.
    fn name(self) -> &'static str {
        match self {
            TargetMode::Command => "command",
            TargetMode::Pids => "pids",
            TargetMode::Comm => "comm",
            TargetMode::PidsAndComm => "pids+comm",
            TargetMode::System => "system",
        }
    }
}

/// Why the drain loop ended (the manifest's last note).
#[derive(Clone, Copy, Debug)]
enum StopReason {
    WriterFailed,
    Signal,
    Duration,
    CommandExited,
}

impl StopReason {
    fn note(self) -> &'static str {
        match self {
            StopReason::WriterFailed => "the capture could not be written",
            StopReason::Signal => "signal",
            StopReason::Duration => "duration reached",
            StopReason::CommandExited => "command exited",
        }
    }
}

/// Memory the BPF objects live in: it outlives the [`Recording`] whose
/// skeletons borrow it.
struct BpfStorage {
    lifecycle: MaybeUninit<libbpf_rs::OpenObject>,
    tls: MaybeUninit<libbpf_rs::OpenObject>,
    tls_fallback: MaybeUninit<libbpf_rs::OpenObject>,
}

impl BpfStorage {
    fn new() -> Self {
        BpfStorage {
            lifecycle: MaybeUninit::uninit(),
            tls: MaybeUninit::uninit(),
            tls_fallback: MaybeUninit::uninit(),
        }
    }
}

/// One recording: [`Recording::start`] creates the capture, loads and
/// attaches the programs and launches the command; [`Recording::drain`]
/// moves records into batches for the writer thread until a stop condition;
/// [`Recording::finish`] detaches everything, drains what is left and seals
/// the capture.
struct Recording<'a> {
    args: &'a RecordArgs,
    skel: bpf::lifecycle::LifecycleSkel<'a>,
    tls_skel: Option<tls::TlsSkel<'a>>,
    hooks: tls::TlsHooks,
    links: Vec<libbpf_rs::Link>,
    notes: Vec<String>,
    state: Rc<RefCell<DrainState>>,
    ring: libbpf_rs::RingBuffer<'static>,
    to_writer: crossbeam_channel::Sender<ToWriter>,
    writer_failed: Arc<AtomicBool>,
    writer_thread: std::thread::JoinHandle<Manifest>,
    stop: Arc<AtomicBool>,
    child: Option<Child>,
    last_stats: HashMap<(usize, usize), u64>,
}

pub fn run(args: RecordArgs) -> Result<i32> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        bail!("agentsight record needs root to load eBPF programs (CAP_BPF, CAP_PERFMON); run it with sudo");
    }
    if let Some(cmd) = args.command.first() {
        if procfs::resolve_command(cmd).is_none() {
            bail!("command not found: {cmd}");
        }
    }
    for &pid in &args.pids {
        if procfs::proc_stat(pid).is_none() {
            bail!("no such process: {pid}");
        }
    }
    let mut storage = BpfStorage::new();
    let mut recording = Recording::start(&args, &mut storage)?;
    let stop_reason = recording.drain();
    recording.finish(stop_reason)
}

impl<'a> Recording<'a> {
    fn start(args: &'a RecordArgs, storage: &'a mut BpfStorage) -> Result<Recording<'a>> {
        let mode = TargetMode::of(args);
        let self_pid = std::process::id();
        prepare_output_dir(&args.output, args.force)?;
        let redactor = (!args.no_redact)
            .then(|| agentsight_redact::Redactor::with_headers(args.redact_headers.iter()));
        let writer = create_capture(args, mode, redactor.as_ref())?;

        let system_tls_libraries = tls::system_libssl();
        let cfg = bpf::LoadConfig {
            self_tgid: self_pid,
            launcher_tgid: if mode == TargetMode::Command {
                self_pid
            } else {
                0
            },
            trace_all: mode == TargetMode::System,
            comm_filter: !args.comms.is_empty(),
        };
        let mut links = Vec::new();
        let load = bpf::load_lifecycle(&mut storage.lifecycle, &cfg).and_then(|mut s| {
            links.extend(bpf::attach_auto(s.object_mut())?);
            Ok(s)
        });
        let skel = match load {
            Ok(s) => s,
            Err(e) => {
                // Leave no half-made capture behind when nothing could be recorded.
                drop(writer);
                let _ = std::fs::remove_dir_all(&args.output);
                return Err(e);
            }
        };

        for name in &args.comms {
            bpf::add_comm_filter(&skel, &procfs::comm_key(name))?;
        }
        let mut initial: Vec<u32> = args.pids.clone();
        initial.extend(procfs::pids_with_comm(&args.comms, self_pid));
        for pid in procfs::with_descendants(&initial) {
            if pid != self_pid {
                bpf::follow_pid(&skel, pid)?;
            }
        }

        // TLS capture is loaded second so it shares the lifecycle pid set. A
        // kernel that refuses it still gets a process/file/net capture, with a
        // note saying TLS is missing.
        let mut notes: Vec<String> = Vec::new();
        let tls_load = tls::load(
            &mut storage.tls,
            &mut storage.tls_fallback,
            &skel,
            &cfg,
            args.tls_max_bytes,
        )
        .and_then(|mut s| {
            links.extend(bpf::attach_auto(s.object_mut())?);
            Ok(s)
        });
        let tls_skel = match tls_load {
            Ok(s) => Some(s),
            Err(e) => {
                let note = format!("TLS plaintext capture unavailable: {e:#}");
                eprintln!("agentsight: warning: {note}");
                notes.push(note);
                None
            }
        };
        let mut hooks = tls::TlsHooks::new(agentsight_tls_targets::stripped::default_cache_dir());
        if let Some(ts) = tls_skel.as_ref() {
            for path in &system_tls_libraries {
                hooks.attach_path(ts, path);
            }
            // The command, and runtimes and agents known to carry their own
            // TLS library (node's OpenSSL; Bun's BoringSSL, in Claude Code's
            // native build too; Codex's OpenSSL), are hooked before anything
            // runs: no race with their first request. A binary first seen
            // at its exec is hooked once located, after its first requests
            // when those come quickly.
            let mut early: Vec<&str> = vec!["node", "nodejs", "bun", "claude", "codex"];
            early.extend(args.command.first().map(String::as_str));
            for path in early.into_iter().filter_map(procfs::resolve_command) {
                hooks.attach_path(ts, &path);
            }
            let initial_scan = if mode == TargetMode::System {
                procfs::all_pids()
            } else {
                procfs::with_descendants(&initial)
            };
            for pid in initial_scan.into_iter().filter(|&p| p != self_pid) {
                hooks.scan_pid(ts, pid);
            }
            hooks.hold_new_executables();
        }

        let stop = stop_signals()?;
        let state = Rc::new(RefCell::new(DrainState {
            buffers: RowBuffers::default(),
            counters: UserCounters::default(),
            rescan: Vec::new(),
            exited: Vec::new(),
            tls: tls::TlsRecords::new(redactor.clone(), args.tls_max_bytes),
        }));
        procfs::snapshot(&mut state.borrow_mut().buffers, self_pid, redactor.as_ref());

        let (to_writer, from_recorder) = crossbeam_channel::bounded::<ToWriter>(8);
        let writer_failed = Arc::new(AtomicBool::new(false));
        let writer_thread = {
            let failed = Arc::clone(&writer_failed);
            std::thread::Builder::new()
                .name("capture-writer".into())
                .spawn(move || writer_loop(writer, from_recorder, failed))?
        };

        let mut ring = libbpf_rs::RingBufferBuilder::new();
        let events_state = Rc::clone(&state);
        ring.add(&skel.maps.events, move |rec: &[u8]| {
            events_state
                .borrow_mut()
                .store_lifecycle(rec, redactor.as_ref());
            0
        })?;
        if let Some(ts) = tls_skel.as_ref() {
            let tls_state = Rc::clone(&state);
            ring.add(&ts.maps.tls_ring, move |rec: &[u8]| {
                tls_state.borrow_mut().store_tls(rec);
                0
            })?;
        }
        let ring = ring.build()?;

        let child = if args.command.is_empty() {
            None
        } else {
            Some(launch(&args.command)?)
        };
        Ok(Recording {
            args,
            skel,
            tls_skel,
            hooks,
            links,
            notes,
            state,
            ring,
            to_writer,
            writer_failed,
            writer_thread,
            stop,
            child,
            last_stats: HashMap::new(),
        })
    }

    /// Drains the rings into batches for the writer until a stop condition.
    fn drain(&mut self) -> StopReason {
        let started = Instant::now();
        let deadline = self
            .args
            .duration
            .map(|d| started + Duration::from_secs_f64(d.max(0.0)));
        let mut last_flush = Instant::now();
        loop {
            if let Err(e) = self.ring.poll(POLL_TIMEOUT) {
                // EINTR from our own stop signal is expected.
                if !self.stop.load(Ordering::Relaxed) {
                    tracing::warn!("ring buffer poll: {e}");
                }
            }
            // Most records are submitted without a wakeup (see rb_wake_flags in
            // bpf/common.bpf.h), and poll only drains rings that signalled:
            // drain both on every pass, at the latest after POLL_TIMEOUT.
            if let Err(e) = self.ring.consume() {
                tracing::warn!("ring buffer consume: {e}");
            }
            self.state.borrow_mut().forget_exited();
            let rescan: Vec<u32> = std::mem::take(&mut self.state.borrow_mut().rescan);
            if let Some(ts) = self.tls_skel.as_ref() {
                let mut seen = std::collections::HashSet::new();
                for pid in rescan.into_iter().filter(|p| seen.insert(*p)) {
                    self.hooks.scan_pid(ts, pid);
                }
                self.hooks
                    .take_attach_rows(&mut self.state.borrow_mut().buffers, procfs::boottime_ns());
            }
            let now = Instant::now();
            let due = {
                let buffers = &self.state.borrow().buffers;
                now.duration_since(last_flush) >= FLUSH_INTERVAL
                    || buffers.rows() >= MAX_BUFFERED_ROWS
                    || buffers.tls_chunks.buffered_bytes() >= MAX_BUFFERED_TLS_BYTES
            };
            if due {
                self.hand_over_batches(false);
                if self.to_writer.send(ToWriter::Flush).is_err() {
                    self.writer_failed.store(true, Ordering::Relaxed);
                }
                last_flush = now;
            }
            if self.writer_failed.load(Ordering::Relaxed) {
                return StopReason::WriterFailed;
            }
            if self.stop.load(Ordering::Relaxed) {
                return StopReason::Signal;
            }
            if deadline.is_some_and(|d| now >= d) {
                return StopReason::Duration;
            }
            if let Some(c) = self.child.as_mut() {
                if let Ok(Some(_)) = c.try_wait() {
                    return StopReason::CommandExited;
                }
            }
        }
    }

    /// Sends the buffered rows (and the counters) to the writer thread.
    fn hand_over_batches(&mut self, all_stats: bool) {
        push_stats(&self.skel, &self.state, &mut self.last_stats, all_stats);
        let batches = self.state.borrow_mut().buffers.take_batches();
        let sent = match batches {
            Ok(b) => self.to_writer.send(ToWriter::Batches(b)).is_ok(),
            Err(e) => {
                tracing::warn!("building batches: {e:#}");
                false
            }
        };
        if !sent {
            self.writer_failed.store(true, Ordering::Relaxed);
        }
    }

    /// Stops the command, detaches every probe, drains what is left and
    /// seals the capture. Returns the command's exit code (0 without one).
    fn finish(mut self, stop_reason: StopReason) -> Result<i32> {
        let child_status = self.child.as_mut().and_then(terminate);
        // Everything the kernel produced before the child was reaped is in the
        // ring now: drain it completely before detaching.
        let _ = self.ring.consume();
        push_stats(&self.skel, &self.state, &mut self.last_stats, true);
        let final_stats = bpf::read_stats(&self.skel);
        let hooks_attached = std::mem::take(&mut self.hooks.attached);
        let hooks_warnings = std::mem::take(&mut self.hooks.warnings);
        if !self.args.quiet {
            for w in &hooks_warnings {
                eprintln!("agentsight: warning: {w}");
            }
        }
        let Recording {
            args,
            skel,
            tls_skel,
            mut hooks,
            mut links,
            notes,
            state,
            ring,
            to_writer,
            writer_failed,
            writer_thread,
            child,
            ..
        } = self;
        drop(ring); // its callbacks hold the other references to `state`
        links.extend(hooks.take_links());
        bpf::detach_parallel(links); // every probe is gone from here on
        drop(tls_skel);
        drop(skel);

        let mut st = Rc::into_inner(state)
            .expect("the ring buffer callbacks are gone")
            .into_inner();
        let batches = st.buffers.take_batches()?;
        let _ = to_writer.send(ToWriter::Batches(batches));

        let mut drops: BTreeMap<String, u64> = BTreeMap::new();
        for (idx, _cpu, v) in &final_stats {
            *drops.entry(bpf::STAT_NAMES[*idx].to_string()).or_default() += v;
        }
        drops.insert("user_parse_errors".into(), st.counters.parse_errors);
        drops.retain(|_, v| *v > 0);

        let mut closing = Manifest::new(String::new());
        closing.drops = drops;
        closing.ended_at_ns = Some(procfs::realtime_ns());
        closing.targets.command_exit_code = child_status.map(exit_code_of);
        closing.notes.extend(notes);
        closing.notes.extend(hooks_warnings);
        closing.notes.push(format!(
            "{}{}",
            agentsight_capture::manifest::STOP_NOTE_PREFIX,
            stop_reason.note()
        ));
        closing.tls_attachments = hooks_attached;
        let _ = to_writer.send(ToWriter::Close(Box::new(closing)));
        drop(to_writer);
        let final_manifest = writer_thread
            .join()
            .map_err(|_| anyhow::anyhow!("capture writer thread panicked"))?;

        if !args.quiet {
            print_summary(&args.output, &final_manifest, st.counters.events_received);
        }
        if writer_failed.load(Ordering::Relaxed) {
            let why = final_manifest
                .notes
                .iter()
                .rev()
                .find(|n| n.starts_with("recording stopped early"))
                .cloned()
                .unwrap_or_default();
            bail!(
                "{why}. Sealed what could be sealed in {dir}; journals keep the rest up to the failure: \
                 free space, then run `agentsight recover {dir}`",
                dir = args.output.display()
            );
        }
        Ok(match child_status {
            Some(status) => exit_code_of(status),
            None if child.is_some() => 1,
            None => 0,
        })
    }
}

/// Creates the capture directory and its writer, with the opening manifest.
fn create_capture(
    args: &RecordArgs,
    mode: TargetMode,
    redactor: Option<&agentsight_redact::Redactor>,
) -> Result<CaptureWriter> {
    // the recorder's own command line carries the target's, secrets included
    let masked_command_line = |argv: &[String]| -> Vec<String> {
        let argv = argv.iter().map(|a| Cow::Borrowed(a.as_str())).collect();
        events::stored_argv(redactor, argv)
            .into_iter()
            .map(Cow::into_owned)
            .collect()
    };
    let mut manifest = Manifest::new(procfs::new_capture_id());
    manifest.host = procfs::host_info();
    manifest.boot_anchor = procfs::boot_anchor();
    manifest.started_at_ns = procfs::realtime_ns();
    manifest.command_line = masked_command_line(&std::env::args().collect::<Vec<_>>());
    manifest.targets = Targets {
        mode: mode.name().to_string(),
        command: masked_command_line(&args.command),
        pids: args.pids.clone(),
        comms: args.comms.clone(),
        command_exit_code: None,
    };
    manifest.options = RecordOptions {
        redact: !args.no_redact,
        redact_headers: args.redact_headers.clone(),
        segment_size_bytes: args.segment_size,
        segment_secs: args.segment_secs,
        tls_max_bytes: args.tls_max_bytes,
    };
    let policy = SealPolicy {
        max_bytes: args.segment_size,
        max_age: Duration::from_secs(args.segment_secs.max(1)),
    };
    CaptureWriter::create(&args.output, manifest, policy)
}

/// Appends changed kernel and userspace counters to `recorder_stats`.
fn push_stats(
    skel: &bpf::lifecycle::LifecycleSkel,
    state: &RefCell<DrainState>,
    last: &mut HashMap<(usize, usize), u64>,
    all: bool,
) {
    let ts = procfs::boottime_ns();
    let mut st = state.borrow_mut();
    for (idx, cpu, v) in bpf::read_stats(skel) {
        let prev = last.insert((idx, cpu), v);
        if prev != Some(v) && (v > 0 || all) {
            st.buffers.stats.push(&StatRow {
                ts_ns: ts,
                cpu: Some(cpu as i32),
                counter: bpf::STAT_NAMES[idx],
                value: v,
            });
        }
    }
    let user = [
        ("events_received", st.counters.events_received),
        ("bytes_received", st.counters.bytes_received),
        ("user_parse_errors", st.counters.parse_errors),
    ];
    for (i, (name, v)) in user.into_iter().enumerate() {
        let key = (usize::MAX - i, usize::MAX);
        if last.insert(key, v) != Some(v) || all {
            st.buffers.stats.push(&StatRow {
                ts_ns: ts,
                cpu: None,
                counter: name,
                value: v,
            });
        }
    }
}

fn writer_loop(
    mut writer: CaptureWriter,
    rx: crossbeam_channel::Receiver<ToWriter>,
    failed: Arc<AtomicBool>,
) -> Manifest {
    let mut error: Option<String> = None;
    let mut closing: Option<Box<Manifest>> = None;
    for msg in rx.iter() {
        if error.is_some() {
            if let ToWriter::Close(m) = msg {
                closing = Some(m);
            }
            continue; // keep draining so the recorder never blocks on us
        }
        let result = match msg {
            ToWriter::Batches(batches) => batches.iter().try_for_each(|(t, b)| writer.write(t, b)),
            ToWriter::Flush => writer.flush(),
            ToWriter::Close(m) => {
                closing = Some(m);
                break;
            }
        };
        if let Err(e) = result {
            error = Some(format!("{e:#}"));
            failed.store(true, Ordering::Relaxed);
        }
    }
    let closing = closing.unwrap_or_else(|| Box::new(Manifest::new(String::new())));
    {
        let mut m = writer.manifest();
        m.drops = closing.drops.clone();
        m.targets.command_exit_code = closing.targets.command_exit_code;
        m.notes.extend(closing.notes.iter().cloned());
        m.tls_attachments = closing.tls_attachments.clone();
    }
    let ended = closing.ended_at_ns.unwrap_or_else(procfs::realtime_ns);
    match error {
        Some(why) => writer.close_after_error(ended, &why),
        None => match writer.close(ended) {
            Ok(m) => m,
            Err(e) => {
                failed.store(true, Ordering::Relaxed);
                let mut m = Manifest::new(String::new());
                m.notes.push(format!(
                    "recording stopped early: closing the capture failed: {e:#}"
                ));
                m
            }
        },
    }
}

fn print_summary(dir: &std::path::Path, m: &Manifest, events: u64) {
    let rows: Vec<String> = m
        .rows
        .iter()
        .filter(|(t, _)| t.as_str() != "recorder_stats")
        .map(|(t, n)| format!("{n} {t}"))
        .collect();
    let bytes: u64 = m.segments.iter().map(|s| s.bytes).sum();
    let drops = m.total_drops();
    eprintln!(
        "agentsight: {events} events -> {} | drops: {} | {} ({}, {} segments) | chain head {}",
        if rows.is_empty() {
            "no rows".to_string()
        } else {
            rows.join(", ")
        },
        if drops == 0 {
            "none".to_string()
        } else {
            format!("{drops} LOST ({:?})", m.drops)
        },
        dir.display(),
        human_bytes(bytes),
        m.segments.len(),
        m.chain_head()
    );
    for a in &m.tls_attachments {
        eprintln!("agentsight: TLS hooked: {a}");
    }
}

#[cfg(test)]
mod tests {
    use super::parse_size;

    #[test]
    fn sizes_parse_with_units() {
        assert_eq!(parse_size("64M"), Ok(64 << 20));
        assert_eq!(parse_size("1GiB"), Ok(1 << 30));
        assert_eq!(parse_size("4096"), Ok(4096));
        assert_eq!(parse_size("8 kb"), Ok(8 << 10));
        assert!(parse_size("12Q").is_err());
    }
}
