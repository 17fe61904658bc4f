//! Scalar functions for what SQL cannot say well: boot time to wall clock,
//! raw bytes to readable text, and kernel numbers (open flags, errno,
//! signals, modes, process keys) to names.
//!
//! Every function takes its arguments loosely (any integer type, any string
//! type) and casts them, so `to_wall(123)` works as well as
//! `to_wall(ts_ns)`. Values that cannot be converted become NULL; nothing
//! here panics on data from a capture.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, Int32Builder, StringBuilder, TimestampNanosecondArray, UInt64Array,
};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, TimeUnit};
use datafusion::common::{exec_err, plan_err, Result};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, TypeSignature,
    Volatility,
};
use datafusion::prelude::SessionContext;

use agentsight_capture::manifest::BootAnchor;

/// Names of the scalar functions registered by [`register`], with a one-line
/// description each (shown by `.help` in the shell and in docs/views.md).
pub const FUNCTIONS: &[(&str, &str)] = &[
    (
        "to_wall(ts_ns [, capture])",
        "boot-time ns -> UTC timestamp using the capture's manifest anchor",
    ),
    (
        "bytes_text(data)",
        "bytes -> text; invalid UTF-8 shown as \\xNN",
    ),
    (
        "bytes_preview(data, max_chars)",
        "bytes -> one line: control bytes escaped, cut with …",
    ),
    (
        "open_flags(flags [, machine])",
        "open(2) flags -> 'O_WRONLY|O_CREAT|O_TRUNC'",
    ),
    (
        "errno_name(ret)",
        "negative syscall result -> 'ENOENT'; NULL when ret >= 0",
    ),
    ("signal_name(sig)", "signal number -> 'SIGKILL'"),
    ("file_mode(mode)", "mode bits -> octal text '0755'"),
    ("key_pid(proc_key)", "pid part of a process key"),
    (
        "key_start_ns(proc_key)",
        "process start (boot-time ns, 10 ms resolution) from a process key",
    ),
    (
        "capture_no(capture)",
        "capture label -> small integer (fast grouping/joining key); capture_label(n) reverses it",
    ),
    (
        "secret_scan(text_or_bytes)",
        "credentials in a text -> list of {class, offset, fingerprint}, never the value",
    ),
    (
        "injection_markers(text)",
        "prompt-injection markers -> list of {class, offset, count}, one per class",
    ),
];

/// Wall-clock anchors of the open captures, by capture label.
#[derive(Clone, Debug, Default)]
pub struct Anchors {
    by_capture: BTreeMap<String, BootAnchor>,
}

impl Anchors {
    pub fn new(by_capture: impl IntoIterator<Item = (String, BootAnchor)>) -> Self {
        Anchors {
            by_capture: by_capture.into_iter().collect(),
        }
    }

    /// The anchor `to_wall(ts)` uses without a capture argument: only
    /// defined when every open capture shares it, so a multi-capture query
    /// cannot silently convert with the wrong clock.
    fn single(&self) -> std::result::Result<Option<BootAnchor>, String> {
        let mut it = self.by_capture.values();
        let Some(first) = it.next() else {
            return Ok(None);
        };
        if it.all(|a| a.boottime_ns == first.boottime_ns && a.realtime_ns == first.realtime_ns) {
            Ok(Some(*first))
        } else {
            Err(
                "to_wall(ts_ns) is ambiguous over several captures with different clocks; \
                 use to_wall(ts_ns, capture)"
                    .to_string(),
            )
        }
    }
}

/// Boot-time ns to wall-clock ns, or None when the result does not fit.
pub fn wall_ns(anchor: &BootAnchor, boottime_ns: u64) -> Option<i64> {
    let v = anchor.realtime_ns as i128 + boottime_ns as i128 - anchor.boottime_ns as i128;
    i64::try_from(v).ok()
}

/// Registers every function of this module in `ctx`.
pub fn register(ctx: &SessionContext, anchors: Anchors, machine: &str) {
    let labels: Vec<String> = anchors.by_capture.keys().cloned().collect();
    ctx.register_udf(ScalarUDF::from(CaptureNo {
        labels: labels.clone(),
        reverse: false,
        signature: arity(1, 1),
    }));
    ctx.register_udf(ScalarUDF::from(CaptureNo {
        labels,
        reverse: true,
        signature: arity(1, 1),
    }));
    ctx.register_udf(ScalarUDF::from(ToWall::new(anchors)));
    ctx.register_udf(ScalarUDF::from(Simple::new(
        "bytes_text",
        1,
        1,
        DataType::Utf8,
        Kind::BytesText,
    )));
    ctx.register_udf(ScalarUDF::from(Simple::new(
        "bytes_preview",
        2,
        2,
        DataType::Utf8,
        Kind::BytesPreview,
    )));
    ctx.register_udf(ScalarUDF::from(Simple::new(
        "open_flags",
        1,
        2,
        DataType::Utf8,
        Kind::OpenFlags(FlagArch::from_machine(machine)),
    )));
    ctx.register_udf(ScalarUDF::from(Simple::new(
        "errno_name",
        1,
        1,
        DataType::Utf8,
        Kind::Errno,
    )));
    ctx.register_udf(ScalarUDF::from(Simple::new(
        "signal_name",
        1,
        1,
        DataType::Utf8,
        Kind::Signal,
    )));
    ctx.register_udf(ScalarUDF::from(Simple::new(
        "file_mode",
        1,
        1,
        DataType::Utf8,
        Kind::FileMode,
    )));
    ctx.register_udf(ScalarUDF::from(Simple::new(
        "key_pid",
        1,
        1,
        DataType::Int32,
        Kind::KeyPid,
    )));
    ctx.register_udf(ScalarUDF::from(Simple::new(
        "key_start_ns",
        1,
        1,
        DataType::UInt64,
        Kind::KeyStart,
    )));
}

fn arity(min: usize, max: usize) -> Signature {
    let sigs = (min..=max).map(TypeSignature::Any).collect();
    Signature::one_of(sigs, Volatility::Immutable)
}

fn is_int(t: &DataType) -> bool {
    t.is_integer()
        || matches!(t, DataType::Null)
        || matches!(t, DataType::Dictionary(_, v) if v.is_integer())
}

fn is_text(t: &DataType) -> bool {
    matches!(
        t,
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View | DataType::Null
    ) || matches!(t, DataType::Dictionary(_, v) if matches!(**v, DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View))
}

fn is_bytes(t: &DataType) -> bool {
    is_text(t)
        || matches!(
            t,
            DataType::Binary
                | DataType::LargeBinary
                | DataType::BinaryView
                | DataType::FixedSizeBinary(_)
        )
}

/// Casts with NULL for values that do not fit (safe cast).
fn cast_to(a: &ArrayRef, t: &DataType) -> Result<ArrayRef> {
    Ok(cast(a, t)?)
}

// ---------------------------------------------------------------- to_wall

#[derive(Debug)]
struct ToWall {
    anchors: Anchors,
    signature: Signature,
}

impl ToWall {
    fn new(anchors: Anchors) -> Self {
        ToWall {
            anchors,
            signature: arity(1, 2),
        }
    }
}

// Functions are compared by name for plan equality; the anchors are fixed
// for the life of a session.
impl PartialEq for ToWall {
    fn eq(&self, _other: &Self) -> bool {
        true
    }
}
impl Eq for ToWall {}
impl Hash for ToWall {
    fn hash<H: Hasher>(&self, state: &mut H) {
        "to_wall".hash(state)
    }
}

fn utc_ns() -> DataType {
    DataType::Timestamp(TimeUnit::Nanosecond, Some(Arc::from("UTC")))
}

impl ScalarUDFImpl for ToWall {
    fn name(&self) -> &str {
        "to_wall"
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, args: &[DataType]) -> Result<DataType> {
        if !args.first().is_some_and(is_int) {
            return plan_err!(
                "to_wall(ts_ns [, capture]) needs an integer boot-time in ns, got {args:?}"
            );
        }
        if args.len() == 2 && !is_text(&args[1]) {
            return plan_err!(
                "to_wall(ts_ns, capture): capture must be text, got {}",
                args[1]
            );
        }
        Ok(utc_ns())
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        let ts = cast_to(&arrays[0], &DataType::UInt64)?;
        let ts = ts.as_primitive::<datafusion::arrow::datatypes::UInt64Type>();
        let out: TimestampNanosecondArray = if arrays.len() == 2 {
            let caps = cast_to(&arrays[1], &DataType::Utf8)?;
            let caps = caps.as_string::<i32>();
            ts.iter()
                .zip(caps.iter())
                .map(|(t, c)| {
                    let anchor = self.anchors.by_capture.get(c?)?;
                    wall_ns(anchor, t?)
                })
                .collect()
        } else {
            let anchor = match self.anchors.single() {
                Ok(Some(a)) => a,
                Ok(None) => return exec_err!("to_wall: no capture is open"),
                Err(e) => return exec_err!("{e}"),
            };
            ts.iter().map(|t| wall_ns(&anchor, t?)).collect()
        };
        Ok(ColumnarValue::Array(Arc::new(out.with_timezone("UTC"))))
    }
}

// ------------------------------------------------- capture_no / capture_label

/// `capture_no(capture)` and its inverse `capture_label(n)`. Views group
/// and join on (capture, proc_key); with an integer in place of the label
/// DataFusion hashes and compares several times faster.
#[derive(Debug, PartialEq, Eq, Hash)]
struct CaptureNo {
    /// Sorted labels of the open captures; the number is the position.
    labels: Vec<String>,
    reverse: bool,
    signature: Signature,
}

impl ScalarUDFImpl for CaptureNo {
    fn name(&self) -> &str {
        if self.reverse {
            "capture_label"
        } else {
            "capture_no"
        }
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, args: &[DataType]) -> Result<DataType> {
        if self.reverse {
            if !is_int(&args[0]) {
                return plan_err!("capture_label(n) needs an integer, got {}", args[0]);
            }
            Ok(DataType::Utf8View)
        } else {
            if !is_text(&args[0]) {
                return plan_err!("capture_no(capture) needs text, got {}", args[0]);
            }
            Ok(DataType::UInt32)
        }
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        if self.reverse {
            let n = cast_to(&arrays[0], &DataType::UInt64)?;
            let mut b = datafusion::arrow::array::StringViewBuilder::with_capacity(n.len());
            for v in n
                .as_primitive::<datafusion::arrow::datatypes::UInt64Type>()
                .iter()
            {
                b.append_option(v.and_then(|i| self.labels.get(usize::try_from(i).ok()?)));
            }
            return Ok(ColumnarValue::Array(Arc::new(b.finish())));
        }
        let text = match arrays[0].data_type() {
            DataType::Utf8View | DataType::Utf8 => arrays[0].clone(),
            _ => cast_to(&arrays[0], &DataType::Utf8)?,
        };
        // Rows of one batch nearly always share a capture: remember the last hit.
        let mut last: Option<(&str, u32)> = None;
        let mut lookup = |s: &str| -> Option<u32> {
            if let Some((l, i)) = last {
                if l.len() == s.len() && l == s {
                    return Some(i);
                }
            }
            let i = self.labels.binary_search_by(|x| x.as_str().cmp(s)).ok()? as u32;
            last = Some((self.labels[i as usize].as_str(), i));
            Some(i)
        };
        let out: datafusion::arrow::array::UInt32Array = if let Some(v) = text.as_string_view_opt()
        {
            v.iter().map(|s| s.and_then(&mut lookup)).collect()
        } else {
            text.as_string::<i32>()
                .iter()
                .map(|s| s.and_then(&mut lookup))
                .collect()
        };
        Ok(ColumnarValue::Array(Arc::new(out)))
    }
}

// ------------------------------------------------------------ capture column

/// Fills the `capture` column of a raw table: the label on every row.
///
/// Not a literal on purpose. DataFusion treats a literal column (and any
/// expression of it) as constant, so `GROUP BY capture, proc_key` counts as
/// pre-sorted; a pre-sorted aggregation never skips its partial phase, which
/// for per-process aggregates (three rows per group) is most of the work.
/// Taking `ts_ns` as argument makes the column an ordinary one.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct CaptureFill {
    label: String,
    signature: Signature,
}

impl CaptureFill {
    pub fn new(label: &str) -> Self {
        CaptureFill {
            label: label.to_string(),
            signature: arity(1, 1),
        }
    }
}

impl ScalarUDFImpl for CaptureFill {
    fn name(&self) -> &str {
        "capture_of"
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _args: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8View)
    }
    fn is_nullable(
        &self,
        _args: &[datafusion::logical_expr::Expr],
        _schema: &dyn datafusion::common::ExprSchema,
    ) -> bool {
        false
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let mut b = datafusion::arrow::array::StringViewBuilder::with_capacity(args.number_rows);
        for _ in 0..args.number_rows {
            b.append_value(&self.label);
        }
        Ok(ColumnarValue::Array(Arc::new(b.finish())))
    }
}

// ------------------------------------------------------- simple functions

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum FlagArch {
    /// x86_64, riscv64, and the asm-generic layout most ports share.
    Generic,
    /// arm64 moves O_DIRECTORY, O_NOFOLLOW, O_DIRECT and O_LARGEFILE.
    Arm,
}

impl FlagArch {
    fn from_machine(m: &str) -> Self {
        if m.starts_with("aarch64") || m.starts_with("arm") {
            FlagArch::Arm
        } else {
            FlagArch::Generic
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Kind {
    BytesText,
    BytesPreview,
    OpenFlags(FlagArch),
    Errno,
    Signal,
    FileMode,
    KeyPid,
    KeyStart,
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct Simple {
    name: &'static str,
    ret: DataType,
    kind: Kind,
    signature: Signature,
}

impl Simple {
    fn new(name: &'static str, min: usize, max: usize, ret: DataType, kind: Kind) -> Self {
        Simple {
            name,
            ret,
            kind,
            signature: arity(min, max),
        }
    }
}

impl ScalarUDFImpl for Simple {
    fn name(&self) -> &str {
        self.name
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, args: &[DataType]) -> Result<DataType> {
        let ok = match self.kind {
            Kind::BytesText => is_bytes(&args[0]),
            Kind::BytesPreview => is_bytes(&args[0]) && is_int(&args[1]),
            Kind::OpenFlags(_) => is_int(&args[0]) && args.get(1).is_none_or(is_text),
            _ => is_int(&args[0]),
        };
        if !ok {
            return plan_err!("{}: unsupported argument types {args:?}", self.name);
        }
        Ok(self.ret.clone())
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        let out: ArrayRef = match self.kind {
            Kind::BytesText => {
                let b = cast_to(&arrays[0], &DataType::Binary)?;
                let mut sb = StringBuilder::new();
                for v in b.as_binary::<i32>().iter() {
                    sb.append_option(v.map(bytes_text));
                }
                Arc::new(sb.finish())
            }
            Kind::BytesPreview => {
                let b = cast_to(&arrays[0], &DataType::Binary)?;
                let n = cast_to(&arrays[1], &DataType::Int64)?;
                let n = n.as_primitive::<datafusion::arrow::datatypes::Int64Type>();
                let mut sb = StringBuilder::new();
                for (v, n) in b.as_binary::<i32>().iter().zip(n.iter()) {
                    sb.append_option(
                        v.map(|v| bytes_preview(v, n.unwrap_or(80).clamp(0, 1 << 20) as usize)),
                    );
                }
                Arc::new(sb.finish())
            }
            Kind::OpenFlags(default_arch) => {
                let f = cast_to(&arrays[0], &DataType::Int64)?;
                let f = f.as_primitive::<datafusion::arrow::datatypes::Int64Type>();
                let machines = match arrays.get(1) {
                    Some(m) => Some(cast_to(m, &DataType::Utf8)?),
                    None => None,
                };
                let mut sb = StringBuilder::new();
                for i in 0..f.len() {
                    let arch = match &machines {
                        Some(m) if m.is_valid(i) => {
                            FlagArch::from_machine(m.as_string::<i32>().value(i))
                        }
                        _ => default_arch,
                    };
                    let v = f
                        .is_valid(i)
                        .then(|| f.value(i))
                        .and_then(|v| u32::try_from(v).ok());
                    sb.append_option(v.map(|v| open_flags(v, arch)));
                }
                Arc::new(sb.finish())
            }
            Kind::Errno => {
                let r = cast_to(&arrays[0], &DataType::Int64)?;
                let r = r.as_primitive::<datafusion::arrow::datatypes::Int64Type>();
                let mut sb = StringBuilder::new();
                for v in r.iter() {
                    sb.append_option(v.and_then(errno_name));
                }
                Arc::new(sb.finish())
            }
            Kind::Signal => {
                let r = cast_to(&arrays[0], &DataType::Int64)?;
                let r = r.as_primitive::<datafusion::arrow::datatypes::Int64Type>();
                let mut sb = StringBuilder::new();
                for v in r.iter() {
                    sb.append_option(v.map(signal_name));
                }
                Arc::new(sb.finish())
            }
            Kind::FileMode => {
                let r = cast_to(&arrays[0], &DataType::Int64)?;
                let r = r.as_primitive::<datafusion::arrow::datatypes::Int64Type>();
                let mut sb = StringBuilder::new();
                for v in r.iter() {
                    sb.append_option(v.map(|m| format!("{:04o}", m & 0o7777)));
                }
                Arc::new(sb.finish())
            }
            Kind::KeyPid => {
                let k = cast_to(&arrays[0], &DataType::UInt64)?;
                let k = k.as_primitive::<datafusion::arrow::datatypes::UInt64Type>();
                let mut b = Int32Builder::with_capacity(k.len());
                for v in k.iter() {
                    b.append_option(
                        v.map(|k| agentsight_capture::schema::split_proc_key(k).0 as i32),
                    );
                }
                Arc::new(b.finish()) as ArrayRef
            }
            Kind::KeyStart => {
                let k = cast_to(&arrays[0], &DataType::UInt64)?;
                let k = k.as_primitive::<datafusion::arrow::datatypes::UInt64Type>();
                let out: UInt64Array = k
                    .iter()
                    .map(|v| v.map(|k| agentsight_capture::schema::split_proc_key(k).1))
                    .collect();
                Arc::new(out)
            }
        };
        Ok(ColumnarValue::Array(out))
    }
}

// --------------------------------------------------------- pure functions

/// Bytes as text; invalid UTF-8 bytes become `\xNN` (same convention as the
/// recorder uses for paths and argv).
pub fn bytes_text(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    for chunk in bytes.utf8_chunks() {
        out.push_str(chunk.valid());
        for b in chunk.invalid() {
            let _ = write!(out, "\\x{b:02x}");
        }
    }
    out
}

/// One-line preview: like [`bytes_text`] but with control characters
/// escaped (`\n`, `\r`, `\t`, `\xNN`) and cut after `max_chars` characters
/// with a trailing `…` when anything was left out.
pub fn bytes_preview(bytes: &[u8], max_chars: usize) -> String {
    let mut out = String::new();
    let mut shown = 0usize;
    let mut cut = false;
    'outer: for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            if shown >= max_chars {
                cut = true;
                break 'outer;
            }
            match c {
                '\n' => out.push_str("\\n"),
                '\r' => out.push_str("\\r"),
                '\t' => out.push_str("\\t"),
                c if c.is_control() => {
                    let _ = write!(out, "\\x{:02x}", c as u32);
                }
                c => out.push(c),
            }
            shown += 1;
        }
        for b in chunk.invalid() {
            if shown >= max_chars {
                cut = true;
                break 'outer;
            }
            let _ = write!(out, "\\x{b:02x}");
            shown += 1;
        }
    }
    if cut {
        out.push('…');
    }
    out
}

/// open(2) flags named for the capture's machine (`uname -m`).
pub fn open_flags_on(flags: u32, machine: &str) -> String {
    open_flags(flags, FlagArch::from_machine(machine))
}

/// open(2) flags as `O_WRONLY|O_CREAT|O_TRUNC`; unknown bits as hex.
fn open_flags(flags: u32, arch: FlagArch) -> String {
    // Bits that differ between layouts.
    let (directory, nofollow, direct, largefile) = match arch {
        FlagArch::Generic => (0o200000, 0o400000, 0o40000, 0o100000),
        FlagArch::Arm => (0o40000, 0o100000, 0o200000, 0o400000),
    };
    const SYNC_BIT: u32 = 0o4000000;
    const DSYNC: u32 = 0o10000;
    const TMPFILE_BIT: u32 = 0o20000000;
    let mut names: Vec<String> = vec![match flags & 3 {
        0 => "O_RDONLY".into(),
        1 => "O_WRONLY".into(),
        2 => "O_RDWR".into(),
        _ => "O_ACCMODE".into(),
    }];
    let mut rest = flags & !3;
    // Composite flags first: O_SYNC includes O_DSYNC, O_TMPFILE includes O_DIRECTORY.
    if rest & (SYNC_BIT | DSYNC) == SYNC_BIT | DSYNC {
        names.push("O_SYNC".into());
        rest &= !(SYNC_BIT | DSYNC);
    }
    if rest & (TMPFILE_BIT | directory) == TMPFILE_BIT | directory {
        names.push("O_TMPFILE".into());
        rest &= !(TMPFILE_BIT | directory);
    }
    let table: [(u32, &str); 15] = [
        (0o100, "O_CREAT"),
        (0o200, "O_EXCL"),
        (0o400, "O_NOCTTY"),
        (0o1000, "O_TRUNC"),
        (0o2000, "O_APPEND"),
        (0o4000, "O_NONBLOCK"),
        (DSYNC, "O_DSYNC"),
        (0o20000, "O_ASYNC"),
        (direct, "O_DIRECT"),
        (largefile, "O_LARGEFILE"),
        (directory, "O_DIRECTORY"),
        (nofollow, "O_NOFOLLOW"),
        (0o1000000, "O_NOATIME"),
        (0o2000000, "O_CLOEXEC"),
        (0o10000000, "O_PATH"),
    ];
    for (bit, name) in table {
        if rest & bit != 0 {
            names.push(name.into());
            rest &= !bit;
        }
    }
    if rest != 0 {
        names.push(format!("0x{rest:x}"));
    }
    names.join("|")
}

const ERRNO: &[&str] = &[
    "",
    "EPERM",
    "ENOENT",
    "ESRCH",
    "EINTR",
    "EIO",
    "ENXIO",
    "E2BIG",
    "ENOEXEC",
    "EBADF",
    "ECHILD",
    "EAGAIN",
    "ENOMEM",
    "EACCES",
    "EFAULT",
    "ENOTBLK",
    "EBUSY",
    "EEXIST",
    "EXDEV",
    "ENODEV",
    "ENOTDIR",
    "EISDIR",
    "EINVAL",
    "ENFILE",
    "EMFILE",
    "ENOTTY",
    "ETXTBSY",
    "EFBIG",
    "ENOSPC",
    "ESPIPE",
    "EROFS",
    "EMLINK",
    "EPIPE",
    "EDOM",
    "ERANGE",
    "EDEADLK",
    "ENAMETOOLONG",
    "ENOLCK",
    "ENOSYS",
    "ENOTEMPTY",
    "ELOOP",
    "E41",
    "ENOMSG",
    "EIDRM",
    "ECHRNG",
    "EL2NSYNC",
    "EL3HLT",
    "EL3RST",
    "ELNRNG",
    "EUNATCH",
    "ENOCSI",
    "EL2HLT",
    "EBADE",
    "EBADR",
    "EXFULL",
    "ENOANO",
    "EBADRQC",
    "EBADSLT",
    "E58",
    "EBFONT",
    "ENOSTR",
    "ENODATA",
    "ETIME",
    "ENOSR",
    "ENONET",
    "ENOPKG",
    "EREMOTE",
    "ENOLINK",
    "EADV",
    "ESRMNT",
    "ECOMM",
    "EPROTO",
    "EMULTIHOP",
    "EDOTDOT",
    "EBADMSG",
    "EOVERFLOW",
    "ENOTUNIQ",
    "EBADFD",
    "EREMCHG",
    "ELIBACC",
    "ELIBBAD",
    "ELIBSCN",
    "ELIBMAX",
    "ELIBEXEC",
    "EILSEQ",
    "ERESTART",
    "ESTRPIPE",
    "EUSERS",
    "ENOTSOCK",
    "EDESTADDRREQ",
    "EMSGSIZE",
    "EPROTOTYPE",
    "ENOPROTOOPT",
    "EPROTONOSUPPORT",
    "ESOCKTNOSUPPORT",
    "EOPNOTSUPP",
    "EPFNOSUPPORT",
    "EAFNOSUPPORT",
    "EADDRINUSE",
    "EADDRNOTAVAIL",
    "ENETDOWN",
    "ENETUNREACH",
    "ENETRESET",
    "ECONNABORTED",
    "ECONNRESET",
    "ENOBUFS",
    "EISCONN",
    "ENOTCONN",
    "ESHUTDOWN",
    "ETOOMANYREFS",
    "ETIMEDOUT",
    "ECONNREFUSED",
    "EHOSTDOWN",
    "EHOSTUNREACH",
    "EALREADY",
    "EINPROGRESS",
    "ESTALE",
    "EUCLEAN",
    "ENOTNAM",
    "ENAVAIL",
    "EISNAM",
    "EREMOTEIO",
    "EDQUOT",
    "ENOMEDIUM",
    "EMEDIUMTYPE",
    "ECANCELED",
    "ENOKEY",
    "EKEYEXPIRED",
    "EKEYREVOKED",
    "EKEYREJECTED",
    "EOWNERDEAD",
    "ENOTRECOVERABLE",
    "ERFKILL",
    "EHWPOISON",
];

/// Name of a negative syscall result (`-2` -> `ENOENT`); None for success.
pub fn errno_name(ret: i64) -> Option<String> {
    if ret >= 0 {
        return None;
    }
    let e = ret.unsigned_abs();
    Some(match ERRNO.get(e as usize) {
        Some(name) if !name.is_empty() && !name[1..].starts_with(|c: char| c.is_ascii_digit()) => {
            name.to_string()
        }
        _ => format!("E{e}"),
    })
}

const SIGNALS: &[&str] = &[
    "",
    "SIGHUP",
    "SIGINT",
    "SIGQUIT",
    "SIGILL",
    "SIGTRAP",
    "SIGABRT",
    "SIGBUS",
    "SIGFPE",
    "SIGKILL",
    "SIGUSR1",
    "SIGSEGV",
    "SIGUSR2",
    "SIGPIPE",
    "SIGALRM",
    "SIGTERM",
    "SIGSTKFLT",
    "SIGCHLD",
    "SIGCONT",
    "SIGSTOP",
    "SIGTSTP",
    "SIGTTIN",
    "SIGTTOU",
    "SIGURG",
    "SIGXCPU",
    "SIGXFSZ",
    "SIGVTALRM",
    "SIGPROF",
    "SIGWINCH",
    "SIGIO",
    "SIGPWR",
    "SIGSYS",
];

/// Linux signal name (`9` -> `SIGKILL`, `34` -> `SIGRTMIN+0`).
pub fn signal_name(sig: i64) -> String {
    match sig {
        1..=31 => SIGNALS[sig as usize].to_string(),
        32..=64 => format!("SIGRTMIN+{}", sig - 34).replace("SIGRTMIN+-", "SIGRTMIN-"),
        _ => format!("SIG{sig}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn anchors() -> Anchors {
        Anchors::new([
            (
                "a".to_string(),
                BootAnchor {
                    boottime_ns: 1_000,
                    realtime_ns: 1_700_000_000_000_000_000,
                },
            ),
            (
                "b".to_string(),
                BootAnchor {
                    boottime_ns: 0,
                    realtime_ns: 1_000_000_000,
                },
            ),
        ])
    }

    async fn one(ctx: &SessionContext, sql: &str) -> Result<String> {
        let batches = ctx.sql(sql).await?.collect().await?;
        let col = batches[0].column(0);
        let f = datafusion::arrow::util::display::ArrayFormatter::try_new(
            col.as_ref(),
            &Default::default(),
        )?;
        Ok(f.value(0).to_string())
    }

    #[tokio::test]
    async fn functions_in_sql() {
        let ctx = SessionContext::new();
        register(&ctx, anchors(), "x86_64");
        assert_eq!(
            one(&ctx, "SELECT to_wall(1001, 'a')").await.unwrap(),
            "2023-11-14T22:13:20.000000001Z"
        );
        assert_eq!(
            one(&ctx, "SELECT to_wall(arrow_cast(5, 'UInt64'), 'b')")
                .await
                .unwrap(),
            "1970-01-01T00:00:01.000000005Z"
        );
        assert_eq!(
            one(&ctx, "SELECT to_wall(5, 'unknown') IS NULL")
                .await
                .unwrap(),
            "true"
        );
        // Two captures with different clocks: the one-argument form refuses.
        let err = one(&ctx, "SELECT to_wall(5)")
            .await
            .unwrap_err()
            .to_string();
        assert!(err.contains("ambiguous"), "{err}");
        assert_eq!(
            one(&ctx, "SELECT open_flags(577)").await.unwrap(),
            "O_WRONLY|O_CREAT|O_TRUNC"
        );
        assert_eq!(one(&ctx, "SELECT errno_name(-2)").await.unwrap(), "ENOENT");
        assert_eq!(
            one(&ctx, "SELECT errno_name(3) IS NULL").await.unwrap(),
            "true"
        );
        assert_eq!(
            one(&ctx, "SELECT bytes_text(X'6869ff')").await.unwrap(),
            "hi\\xff"
        );
        assert_eq!(
            one(&ctx, "SELECT bytes_preview(X'610a62', 2)")
                .await
                .unwrap(),
            "a\\n…"
        );
        assert_eq!(
            one(&ctx, "SELECT bytes_text('plain')").await.unwrap(),
            "plain"
        );
        assert_eq!(
            one(&ctx, "SELECT key_pid(arrow_cast(17179869311, 'UInt64'))")
                .await
                .unwrap(),
            "127"
        );
        assert_eq!(
            one(&ctx, "SELECT key_start_ns(17179869311)").await.unwrap(),
            "40960000000"
        );
        assert_eq!(one(&ctx, "SELECT signal_name(9)").await.unwrap(), "SIGKILL");
        assert_eq!(one(&ctx, "SELECT file_mode(33261)").await.unwrap(), "0755");
        assert_eq!(
            one(&ctx, "SELECT open_flags(16384, 'aarch64')")
                .await
                .unwrap(),
            "O_RDONLY|O_DIRECTORY"
        );
        assert_eq!(one(&ctx, "SELECT capture_no('b')").await.unwrap(), "1");
        assert_eq!(
            one(&ctx, "SELECT capture_label(capture_no('a'))")
                .await
                .unwrap(),
            "a"
        );
        assert_eq!(
            one(
                &ctx,
                "SELECT capture_no('zz') IS NULL AND capture_label(7) IS NULL"
            )
            .await
            .unwrap(),
            "true"
        );
        // Wrong argument types are plan errors, not panics.
        assert!(one(&ctx, "SELECT key_pid('x')").await.is_err());
        assert!(one(&ctx, "SELECT to_wall('x')").await.is_err());
        assert!(one(&ctx, "SELECT open_flags(-1)").await.is_ok());
    }

    #[tokio::test]
    async fn single_capture_to_wall() {
        let ctx = SessionContext::new();
        register(
            &ctx,
            Anchors::new([(
                "a".to_string(),
                BootAnchor {
                    boottime_ns: 10,
                    realtime_ns: 20,
                },
            )]),
            "x86_64",
        );
        assert_eq!(
            one(&ctx, "SELECT to_wall(15)").await.unwrap(),
            "1970-01-01T00:00:00.000000025Z"
        );
        // Overflowing values become NULL instead of wrapping or panicking.
        assert_eq!(
            one(
                &ctx,
                "SELECT to_wall(arrow_cast(18446744073709551615, 'UInt64')) IS NULL"
            )
            .await
            .unwrap(),
            "true"
        );
    }

    #[test]
    fn pure_functions() {
        assert_eq!(open_flags(0, FlagArch::Generic), "O_RDONLY");
        assert_eq!(
            open_flags(0o2000000 | 0o200000 | 0o4000, FlagArch::Generic),
            "O_RDONLY|O_NONBLOCK|O_DIRECTORY|O_CLOEXEC"
        );
        assert_eq!(
            open_flags(0o20200000 | 2, FlagArch::Generic),
            "O_RDWR|O_TMPFILE"
        );
        assert_eq!(open_flags(0o4010001, FlagArch::Generic), "O_WRONLY|O_SYNC");
        assert_eq!(
            open_flags(0x8000_0000 | 1, FlagArch::Generic),
            "O_WRONLY|0x80000000"
        );
        assert_eq!(errno_name(-115).as_deref(), Some("EINPROGRESS"));
        assert_eq!(errno_name(-41).as_deref(), Some("E41"));
        assert_eq!(errno_name(-100000).as_deref(), Some("E100000"));
        assert_eq!(
            errno_name(i64::MIN).as_deref(),
            Some(format!("E{}", i64::MIN.unsigned_abs()).as_str())
        );
        assert_eq!(errno_name(0), None);
        assert_eq!(signal_name(15), "SIGTERM");
        assert_eq!(signal_name(34), "SIGRTMIN+0");
        assert_eq!(signal_name(32), "SIGRTMIN-2");
        assert_eq!(signal_name(-1), "SIG-1");
        assert_eq!(bytes_text(b"ok\xc3\x28"), "ok\\xc3(");
        assert_eq!(bytes_preview("héllo\x01".as_bytes(), 10), "héllo\\x01");
        assert_eq!(bytes_preview(b"abc", 0), "…");
        assert_eq!(bytes_preview(b"", 0), "");
        let a = BootAnchor {
            boottime_ns: u64::MAX,
            realtime_ns: i64::MIN,
        };
        assert_eq!(wall_ns(&a, 0), None);
    }
}
