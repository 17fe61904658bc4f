//! End to end: TLS plaintext captured from real clients (python, node, curl)
//! talking to the local HTTPS mock LLM server, compared byte for byte with
//! what the server saw and sent.

mod common;

use std::collections::{BTreeMap, HashMap};
use std::io::Read;
use std::path::{Path, PathBuf};

use agentsight_capture as capture;
use agentsight_capture::arrow::array::{Array, BinaryArray, Int32Array, StringArray, UInt64Array};
use common::mock::*;
use common::*;
use sha2::{Digest, Sha256};

#[derive(Default, Debug)]
struct Stream {
    bytes: Vec<u8>,
    fds: Vec<i32>,
    lost: u64,
    pid: i32,
}

/// Stream keys fold the SSL*'s reuse count into its top byte (user-space
/// addresses leave it clear).
const GENERATION_SHIFT: u32 = 56;
const GENERATION_MASK: u64 = (1 << GENERATION_SHIFT) - 1;

/// Captured plaintext per connection and direction, in call and chunk order.
/// A connection is (pid, SSL*, generation): after SSL_free the allocator may
/// hand the same pointer to the next connection.
fn captured_streams(dir: &Path) -> BTreeMap<(i32, u64, String), Stream> {
    let mut frees: HashMap<(i32, u64), Vec<u64>> = HashMap::new();
    for r in rows(dir, "tls_events") {
        if r["event"] == "free" {
            frees
                .entry((r["pid"].parse().unwrap(), r["ssl_ptr"].parse().unwrap()))
                .or_default()
                .push(r["ts_ns"].parse().unwrap());
        }
    }
    let mut chunks: Vec<(i32, u64, String, u64, u64, Vec<u8>, Option<i32>, u64, u64)> = Vec::new();
    for batch in capture::read_table(dir, "tls_chunks").unwrap() {
        let pid = column::<Int32Array>(&batch, "pid");
        let ssl = column::<UInt64Array>(&batch, "ssl_ptr");
        let dir_ = column::<StringArray>(&batch, "direction");
        let seq = column::<UInt64Array>(&batch, "call_seq");
        let off = column::<UInt64Array>(&batch, "chunk_offset");
        let data = column::<BinaryArray>(&batch, "data");
        let fd = column::<Int32Array>(&batch, "fd");
        let lost = column::<UInt64Array>(&batch, "lost_bytes");
        let ts = column::<UInt64Array>(&batch, "ts_ns");
        for i in 0..batch.num_rows() {
            let generation = frees
                .get(&(pid.value(i), ssl.value(i)))
                .map(|f| f.iter().filter(|&&t| t < ts.value(i)).count())
                .unwrap_or(0);
            chunks.push((
                pid.value(i),
                ssl.value(i),
                dir_.value(i).to_string(),
                seq.value(i),
                off.value(i),
                data.value(i).to_vec(),
                fd.is_valid(i).then(|| fd.value(i)),
                lost.value(i),
                generation as u64,
            ));
        }
    }
    chunks.sort_by_key(|c| (c.3, c.4));
    let mut streams: BTreeMap<(i32, u64, String), Stream> = BTreeMap::new();
    for (pid, ssl, d, _, _, data, fd, lost, generation) in chunks {
        let s = streams
            .entry((pid, ssl ^ (generation << GENERATION_SHIFT), d))
            .or_default();
        s.pid = pid;
        s.bytes.extend_from_slice(&data);
        s.lost += lost;
        if let Some(fd) = fd {
            if !s.fds.contains(&fd) {
                s.fds.push(fd);
            }
        }
    }
    streams
}

fn column<'a, T: 'static>(
    batch: &'a agentsight_capture::arrow::record_batch::RecordBatch,
    name: &str,
) -> &'a T {
    batch
        .column_by_name(name)
        .unwrap_or_else(|| panic!("column {name}"))
        .as_any()
        .downcast_ref::<T>()
        .unwrap()
}

fn sha(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Every connection the server saw must appear as one captured write stream
/// equal to what the server received, and one read stream equal to what it
/// sent, except a short tail the client closed without reading (an SDK stops
/// at `[DONE]` and drops the final gzip trailer and last chunk).
fn assert_connections_captured(dir: &Path, conns: &[ServerConn], min_conns: usize) {
    const UNREAD_TAIL_MAX: usize = 64;
    let streams = captured_streams(dir);
    let writes: HashMap<String, &Stream> = streams
        .iter()
        .filter(|(k, _)| k.2 == "write")
        .map(|(_, s)| (sha(&s.bytes), s))
        .collect();
    assert!(
        conns.len() >= min_conns,
        "server saw {} connections",
        conns.len()
    );
    for c in conns {
        let id = &c.log["conn_id"];
        assert_eq!(
            sha(&c.received),
            c.log["in_sha256"].as_str().unwrap(),
            "server dump agrees with its log"
        );
        let w = writes.get(&sha(&c.received)).unwrap_or_else(|| {
            panic!(
                "connection {id} ({} bytes in, alpn {}): client writes not captured byte-exact; captured write streams: {:?}",
                c.received.len(),
                c.log["alpn"],
                streams.iter().filter(|(k, _)| k.2 == "write").map(|(k, s)| (k.0, k.1, s.bytes.len())).collect::<Vec<_>>()
            )
        });
        let key = streams
            .iter()
            .find(|(k, s)| k.2 == "write" && std::ptr::eq(*s, *w))
            .map(|(k, _)| k.clone())
            .unwrap();
        let r = streams
            .get(&(key.0, key.1, "read".to_string()))
            .unwrap_or_else(|| panic!("connection {id}: no read stream"));
        assert!(
            c.sent.starts_with(&r.bytes) && c.sent.len() - r.bytes.len() <= UNREAD_TAIL_MAX,
            "connection {id}: client reads ({} bytes) are not the server's {} bytes (first difference at {})",
            r.bytes.len(),
            c.sent.len(),
            r.bytes.iter().zip(&c.sent).position(|(a, b)| a != b).unwrap_or(r.bytes.len().min(c.sent.len()))
        );
        assert_eq!(w.lost + r.lost, 0);
    }
    let m = capture::Manifest::load(dir).unwrap();
    assert!(m.drops.is_empty(), "nothing lost: {:?}", m.drops);
}

fn setup() -> Option<(tempfile::TempDir, MockServer)> {
    if !can_record() {
        return None;
    }
    let work = tempdir();
    let server = MockServer::start(work.path());
    Some((work, server))
}

/// A recording whose capture was checked against the mock server.
struct Recorded {
    _work: tempfile::TempDir, // holds the capture until the test ends
    out: PathBuf,
    output: std::process::Output,
}

/// Records `command` against a fresh mock server with redaction off, checks
/// that it exited 0 and that the capture holds every connection the server
/// saw, byte-exact (at least `min_conns`). None where this machine cannot
/// record.
fn record_byte_exact(command: &[&str], min_conns: usize) -> Option<Recorded> {
    let (work, server) = setup()?;
    let out = work.path().join("cap");
    let output = record_with(&server, &out, &["--no-redact"], command);
    assert!(output.status.success());
    let conns = server.stop();
    assert_connections_captured(&out, &conns, min_conns);
    Some(Recorded {
        _work: work,
        out,
        output,
    })
}

#[test]
#[cfg_attr(
    no_ebpf,
    ignore = "needs root and kernel BTF to record (CI=true runs it and fails instead)"
)]
fn python_urllib_keepalive_5mb_upload_and_50mb_download_byte_exact() {
    let _g = serial();
    let Some(Recorded { _work, out, .. }) = record_byte_exact(
        &[
            "python3",
            "tests/clients/py_urllib.py",
            "--do",
            "keepalive,upload,blob",
        ],
        3,
    ) else {
        return;
    };
    let streams = captured_streams(&out);
    let biggest = streams.values().map(|s| s.bytes.len()).max().unwrap();
    assert!(
        biggest > 50_000_000,
        "the 50 MB download is in one stream ({biggest} bytes)"
    );
    // python binds the fd with SSL_set_fd: every chunk knows its socket
    assert!(
        streams.values().all(|s| !s.fds.is_empty()),
        "fd known for every stream"
    );
}

#[test]
#[cfg_attr(
    no_ebpf,
    ignore = "needs root and kernel BTF to record (CI=true runs it and fails instead)"
)]
fn curl_http2_download_byte_exact() {
    let _g = serial();
    let Some((work, server)) = setup() else {
        return;
    };
    let out = work.path().join("cap");
    let url = format!("{}/blob?size=50000000&seed=curl", server.base_url());
    let cert = server.cert.display().to_string();
    let o = record_with(
        &server,
        &out,
        &["--no-redact"],
        &["curl", "-sS", "--cacert", &cert, "-o", "/dev/null", &url],
    );
    assert!(o.status.success());
    let conns = server.stop();
    assert!(
        conns.iter().any(|c| c.log["alpn"] == "h2"),
        "curl negotiated HTTP/2"
    );
    assert_connections_captured(&out, &conns, 1);
    let sni: Vec<String> = rows(&out, "tls_events")
        .into_iter()
        .filter(|r| r["event"] == "sni")
        .map(|r| r["value"].clone())
        .collect();
    assert!(
        sni.contains(&"localhost".to_string()),
        "SNI recorded: {sni:?}"
    );
}

#[test]
#[cfg_attr(
    no_ebpf,
    ignore = "needs root and kernel BTF to record (CI=true runs it and fails instead)"
)]
fn python_sdks_openai_and_anthropic_byte_exact() {
    let _g = serial();
    let Some(Recorded { _work, out, .. }) = record_byte_exact(
        &["sh", "-c", "python3 tests/clients/py_anthropic.py --mode all && python3 tests/clients/py_openai.py --mode all"],
        2,
    ) else {
        return;
    };
    // Debian's OpenSSL 3 starts SSL_read_ex/SSL_write_ex with an instruction
    // the kernel would single-step: python's calls are seen, byte-exact as
    // checked above, at the internal function each pair shares, through one
    // uprobe session link (Linux 6.13+, as on CI).
    let m = capture::Manifest::load(&out).unwrap();
    assert!(
        m.tls_attachments.iter().any(|a| a.contains("libssl")
            && a.contains("via ssl_read_internal")
            && a.ends_with("data probes: uprobe session")),
        "{:?}",
        m.tls_attachments
    );
    let funcs: std::collections::BTreeSet<String> = rows(&out, "tls_chunks")
        .into_iter()
        .map(|r| r["func"].clone())
        .collect();
    assert_eq!(
        funcs,
        ["ssl_read_internal", "ssl_write_internal"]
            .map(String::from)
            .into()
    );
}

#[test]
#[cfg_attr(
    no_ebpf,
    ignore = "needs root and kernel BTF to record (CI=true runs it and fails instead)"
)]
fn node_fetch_and_sdks_byte_exact_with_fd_from_syscalls() {
    let _g = serial();
    let Some(Recorded { _work, out, .. }) = record_byte_exact(
        &[
            "sh",
            "-c",
            "node tests/clients/node_fetch.mjs --do keepalive,upload && node tests/clients/node_anthropic.mjs --mode all && node tests/clients/node_openai.mjs --mode all",
        ],
        3,
    ) else {
        return;
    };
    let m = capture::Manifest::load(&out).unwrap();
    assert!(
        m.tls_attachments.iter().any(|a| a.contains("node")),
        "node's own OpenSSL hooked: {:?}",
        m.tls_attachments
    );
    // node uses memory BIOs: the fd comes from the syscalls around SSL calls
    let set_fd = rows(&out, "tls_events")
        .into_iter()
        .filter(|r| r["event"] == "set_fd")
        .count();
    assert!(set_fd >= 3, "fd bound for node connections ({set_fd})");
}

#[test]
#[cfg_attr(
    no_ebpf,
    ignore = "needs root and kernel BTF to record (CI=true runs it and fails instead)"
)]
fn uprobe_pairs_capture_byte_exact_where_the_kernel_has_no_sessions() {
    // Kernels before 6.13 get an entry and a return uprobe per function
    // instead of one session link; this forces that path here.
    let _g = serial();
    let Some((work, server)) = setup() else {
        return;
    };
    let out = work.path().join("cap");
    let o = record_with_env(
        &server,
        &out,
        &["--no-redact"],
        &[("AGENTSIGHT_NO_UPROBE_SESSION", "1")],
        &["sh", "-c", "python3 tests/clients/py_urllib.py --do keepalive && node tests/clients/node_fetch.mjs --do keepalive"],
    );
    assert!(o.status.success());
    let conns = server.stop();
    assert_connections_captured(&out, &conns, 2);
    let m = capture::Manifest::load(&out).unwrap();
    assert!(
        m.tls_attachments
            .iter()
            .all(|a| a.ends_with("data probes: uprobe pairs")),
        "{:?}",
        m.tls_attachments
    );
}

#[test]
#[cfg_attr(
    no_ebpf,
    ignore = "needs root and kernel BTF to record (CI=true runs it and fails instead)"
)]
fn two_concurrent_connections_are_kept_apart_and_tied_to_their_sockets() {
    let _g = serial();
    let Some(Recorded {
        _work,
        out,
        output: o,
    }) = record_byte_exact(&["python3", "tests/clients/two_connections.py"], 2)
    else {
        return;
    };
    assert_each_connection_tied_to_its_socket(&out, &o.stdout);
}

/// One thread, one connection after the other: a later SSL object gets the
/// address of the one freed before it, and its socket another fd number. The
/// fd a thread remembers for an SSL* must not carry over to its reuse. The
/// client keeps connecting until the allocator reuses the address (it reports
/// each SSL*), so the pair is there whatever state the heap starts in.
#[test]
#[cfg_attr(
    no_ebpf,
    ignore = "needs root and kernel BTF to record (CI=true runs it and fails instead)"
)]
fn sequential_connections_reusing_an_ssl_address_keep_their_own_sockets() {
    let _g = serial();
    let Some(Recorded {
        _work,
        out,
        output: o,
    }) = record_byte_exact(
        &[
            "python3",
            "tests/clients/two_connections.py",
            "--sequential",
            "--rounds",
            "1",
        ],
        2,
    )
    else {
        return;
    };
    let used = assert_each_connection_tied_to_its_socket(&out, &o.stdout);
    let [.., (fd_before, ssl_before), (fd_reuse, ssl_reuse)] = used[..] else {
        panic!("at least two sequential connections: {used:?}");
    };
    assert_ne!(
        fd_before, fd_reuse,
        "the spare file moves the reuse to another fd"
    );
    assert_eq!(
        ssl_before, ssl_reuse,
        "the last connection reuses the SSL object freed before it"
    );
}

/// Each connection's captured write stream carries only its own marker, and
/// its fd leads to the connect whose local port that connection used.
/// Returns, per connection, the client's socket fd and the SSL* it used.
fn assert_each_connection_tied_to_its_socket(out: &Path, client_stdout: &[u8]) -> Vec<(i32, u64)> {
    let report: serde_json::Value =
        serde_json::from_str(String::from_utf8_lossy(client_stdout).trim()).unwrap();
    let streams = captured_streams(out);
    let net = rows(out, "net_events");
    let mut fds = Vec::new();
    for c in report["connections"].as_array().unwrap() {
        let name = c["name"].as_str().unwrap();
        let marker = format!("two_connections conn={name} ");
        let local_port = c["local_port"].as_u64().unwrap().to_string();
        let (key, s) = streams
            .iter()
            .find(|(k, s)| {
                k.2 == "write"
                    && s.bytes
                        .windows(marker.len())
                        .any(|w| w == marker.as_bytes())
            })
            .unwrap_or_else(|| panic!("stream with {marker}"));
        for other in report["connections"].as_array().unwrap() {
            let other = other["name"].as_str().unwrap();
            let other = format!("two_connections conn={other} ");
            assert!(
                other == marker || !s.bytes.windows(other.len()).any(|w| w == other.as_bytes()),
                "connections mixed in {key:?}"
            );
        }
        assert_eq!(s.fds.len(), 1, "one fd per connection: {:?}", s.fds);
        assert_eq!(
            i64::from(s.fds[0]),
            c["fd"].as_i64().unwrap(),
            "{name}: the fd the client used"
        );
        let fd = s.fds[0].to_string();
        assert!(
            net.iter().any(|r| r["op"] == "connect"
                && r["pid"] == s.pid.to_string()
                && r["fd"] == fd
                && r["local_port"] == local_port),
            "connect row for fd {fd} with local port {local_port}"
        );
        let ssl = key.1 & GENERATION_MASK;
        if let Some(reported) = c["ssl_ptr"].as_u64() {
            assert_eq!(ssl, reported, "{name}: the SSL* the client reported");
        }
        fds.push((s.fds[0], ssl));
    }
    fds
}

#[test]
#[cfg_attr(
    no_ebpf,
    ignore = "needs root and kernel BTF to record (CI=true runs it and fails instead)"
)]
fn api_keys_never_reach_the_capture_unless_no_redact() {
    let _g = serial();
    let Some((work, server)) = setup() else {
        return;
    };
    let out = work.path().join("cap");
    let o = record_with(
        &server,
        &out,
        &[],
        &["sh", "-c", "python3 tests/clients/py_anthropic.py --mode basic,stream && node tests/clients/node_openai.mjs --mode chat && python3 tests/clients/py_urllib.py --do keepalive"],
    );
    assert!(o.status.success());
    assert_absent(API_KEY, &out);
    // the evidence stays honest: header names kept, masked value as long as the key
    let streams = captured_streams(&out);
    let all: Vec<u8> = streams
        .iter()
        .filter(|(k, _)| k.2 == "write")
        .flat_map(|(_, s)| s.bytes.clone())
        .collect();
    let text = String::from_utf8_lossy(&all).to_lowercase();
    let masked = "*".repeat(API_KEY.len());
    assert!(
        text.contains(&format!("x-api-key: {masked}")),
        "anthropic key masked in place"
    );
    assert!(
        text.contains(&format!("authorization: bearer {masked}"))
            || text.contains(&format!("authorization: {}", "*".repeat(API_KEY.len() + 7))),
        "openai key masked"
    );
    let redacted = rows(&out, "tls_chunks")
        .iter()
        .filter(|r| r["redacted"] == "true")
        .count();
    assert!(redacted >= 3);
    drop(server);

    // opting out keeps the key, and the manifest says so
    let server = MockServer::start(work.path());
    let raw = work.path().join("raw");
    let o = record_with(
        &server,
        &raw,
        &["--no-redact"],
        &[
            "python3",
            "tests/clients/py_anthropic.py",
            "--mode",
            "basic",
        ],
    );
    assert!(o.status.success());
    let streams = captured_streams(&raw);
    assert!(streams.values().any(|s| s
        .bytes
        .windows(API_KEY.len())
        .any(|w| w == API_KEY.as_bytes())));
    assert!(!capture::Manifest::load(&raw).unwrap().options.redact);
}

#[test]
#[cfg_attr(
    no_ebpf,
    ignore = "needs root and kernel BTF to record (CI=true runs it and fails instead)"
)]
fn a_process_that_starts_tls_late_is_still_captured() {
    let _g = serial();
    let Some(Recorded {
        _work, output: o, ..
    }) = record_byte_exact(&["python3", "tests/clients/late_tls.py", "--delay", "2"], 1)
    else {
        return;
    };
    let report: serde_json::Value =
        serde_json::from_str(String::from_utf8_lossy(&o.stdout).trim()).unwrap();
    assert_eq!(
        report["libssl_mapped_before_sleep"], false,
        "libssl really loaded late"
    );
}

#[test]
#[cfg_attr(
    no_ebpf,
    ignore = "needs root and kernel BTF to record (CI=true runs it and fails instead)"
)]
fn tls_max_bytes_counts_what_it_does_not_keep() {
    let _g = serial();
    let Some((work, server)) = setup() else {
        return;
    };
    let out = work.path().join("cap");
    let o = record_with(
        &server,
        &out,
        &["--no-redact", "--tls-max-bytes", "4K"],
        &[
            "python3",
            "tests/clients/py_urllib.py",
            "--do",
            "upload",
            "--upload-bytes",
            "1000000",
        ],
    );
    assert!(o.status.success());
    let streams = captured_streams(&out);
    let lost: u64 = streams.values().map(|s| s.lost).sum();
    assert!(lost > 0, "bytes past the cap are counted");
    let m = capture::Manifest::load(&out).unwrap();
    assert_eq!(
        m.drops.get("tls_bytes_lost").copied().unwrap_or(0),
        lost,
        "manifest loss matches the rows"
    );
    let mut buf = String::new();
    let _ = std::io::Cursor::new(agentsight(&["info", &out.display().to_string()]).stdout)
        .read_to_string(&mut buf);
    assert!(buf.contains("tls_bytes_lost"), "{buf}");
}

/// Bun carries BoringSSL compiled in, without symbols (as Claude Code's
/// native build does): the recorder locates its SSL_read / SSL_write, and
/// every connection of a fetch client (JSON, SSE streams, a 5 MiB upload)
/// is captured byte-exact, with the calls decoded. Two releases, one code.
/// `via_shell`: the binary is first seen at its exec (a shell runs it), so
/// the recorder holds it while it locates, instead of hooking the command
/// before it starts.
fn bun_fetch_byte_exact(version: &str, via_shell: bool) {
    let _g = serial();
    let bun = agents::bun(version);
    if !installed(&bun) {
        return;
    }
    let Some((work, server)) = setup() else {
        return;
    };
    let out = work.path().join("cap");
    let cache = work.path().join("tls-cache");
    let script = "tests/clients/node_fetch.mjs";
    let exec = format!("exec '{bun}' {script} --do keepalive,upload");
    let command: Vec<&str> = if via_shell {
        vec!["sh", "-c", &exec]
    } else {
        vec![&bun, script, "--do", "keepalive,upload"]
    };
    let env = [("AGENTSIGHT_CACHE_DIR", cache.to_str().unwrap())];
    let o = record_with_env(&server, &out, &["--no-redact"], &env, &command);
    assert!(o.status.success());
    // Bun's pool keeps one connection for all of it.
    let conns = server.stop();
    assert_connections_captured(&out, &conns, 1);

    let m = capture::Manifest::load(&out).unwrap();
    let attached = m
        .tls_attachments
        .iter()
        .find(|a| a.starts_with(&bun))
        .unwrap_or_else(|| panic!("bun hooked: {:?}", m.tls_attachments));
    assert!(
        attached.contains("[SSL_write@0x")
            && attached.contains(", SSL_read@0x")
            && attached.contains("located without symbols: BoringSSL"),
        "{attached}"
    );
    assert_eq!(
        std::fs::read_dir(&cache).unwrap().count(),
        1,
        "what was located is cached"
    );
    let funcs: std::collections::BTreeSet<String> = rows(&out, "tls_chunks")
        .into_iter()
        .map(|r| r["func"].clone())
        .collect();
    assert_eq!(funcs, ["SSL_read", "SSL_write"].map(String::from).into());
    // The client's own account of each LLM call is what the analyzer decodes.
    let client: serde_json::Value =
        serde_json::from_str(String::from_utf8_lossy(&o.stdout).trim()).unwrap();
    let expected: Vec<(String, String)> = client["calls"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["model"].as_str().unwrap().into(),
                c["text"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert_eq!(expected.len(), 3, "{client}");
    let decoded: Vec<(String, String)> = query_json(
        &out,
        "SELECT model, response_text FROM llm_calls ORDER BY ts_ns",
    )
    .iter()
    .map(|r| {
        (
            r["model"].as_str().unwrap().into(),
            r["response_text"].as_str().unwrap().into(),
        )
    })
    .collect();
    assert_eq!(decoded, expected);
}

#[test]
#[cfg_attr(
    no_ebpf,
    ignore = "needs root and kernel BTF to record (CI=true runs it and fails instead)"
)]
fn bun_fetch_is_captured_byte_exact() {
    bun_fetch_byte_exact("1.4.5", false);
}

#[test]
#[cfg_attr(
    no_ebpf,
    ignore = "needs root and kernel BTF to record (CI=true runs it and fails instead)"
)]
fn an_older_bun_found_at_exec_is_captured_byte_exact() {
    bun_fetch_byte_exact("1.1.30", true);
}

/// `/bin/sleep` carrying the marks of another TLS stack: what a Go
/// program, a rustls program and a BoringSSL build the recorder cannot
/// locate look like to it. (It sleeps so the recorder's scan after its exec
/// finds it still running.)
fn binary_marked(dir: &Path, name: &str, section: &str, contents: &[u8]) -> PathBuf {
    agentsight_testkit::binary_with_section(dir, "/bin/sleep", name, section, contents)
}

/// Programs whose TLS the recorder cannot hook each get a `not_hooked` row
/// and a recorder warning naming the file, the library and why; nothing is
/// attached to them, and a program with no TLS at all gets nothing.
#[test]
#[cfg_attr(
    no_ebpf,
    ignore = "needs root and kernel BTF to record (CI=true runs it and fails instead)"
)]
fn tls_that_cannot_be_hooked_is_named_never_silent() {
    let _g = serial();
    if !can_record() {
        return;
    }
    let work = tempdir();
    let dir = work.path();
    let go = binary_marked(dir, "go-program", ".go.buildinfo", b"\xff Go buildinf:");
    let rustls = binary_marked(
        dir,
        "rustls-program",
        ".rodata.tls",
        b"panicked in rustls-0.23.31/src/conn.rs",
    );
    let boring = binary_marked(
        dir,
        "boringssl-program",
        ".rodata.tls",
        b"BoringSSL\0../../third_party/boringssl/ssl/ssl_lib.cc\0",
    );
    let script = format!(
        "ls / >/dev/null && '{}' 0.3 && '{}' 0.3 && '{}' 0.3",
        go.display(),
        rustls.display(),
        boring.display()
    );
    let out = dir.join("cap");
    let o = record(&out, &[], &["sh", "-c", &script]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let stderr = String::from_utf8_lossy(&o.stderr);
    let not_hooked: Vec<String> = rows(&out, "tls_events")
        .into_iter()
        .filter(|r| r["event"] == "not_hooked")
        .map(|r| r["value"].clone())
        .collect();
    let line = |path: &Path| {
        let p = path.display().to_string();
        let found: Vec<&String> = not_hooked.iter().filter(|v| v.starts_with(&p)).collect();
        assert_eq!(found.len(), 1, "{p}: {not_hooked:#?}");
        assert!(stderr.contains(found[0].as_str()), "warned: {stderr}");
        found[0].clone()
    };
    assert!(line(&go).contains("is a Go program"));
    assert!(line(&rustls).contains("carries rustls"));
    let boring_line = line(&boring);
    assert!(
        // The added section is not loaded, so no code can refer to it.
        boring_line.contains("links BoringSSL statically")
            && boring_line.contains("were not located (no BoringSSL or OpenSSL 3 source anchors"),
        "{boring_line}"
    );
    assert!(
        !not_hooked.iter().any(|v| v.contains("/ls")),
        "ls has no TLS: {not_hooked:?}"
    );
    let m = capture::Manifest::load(&out).unwrap();
    let marked = [&go, &rustls, &boring].map(|p| p.display().to_string());
    assert!(
        !m.tls_attachments
            .iter()
            .any(|a| marked.iter().any(|p| a.starts_with(p.as_str()))),
        "{:?}",
        m.tls_attachments
    );
    // `agentsight info` says it too.
    let info =
        String::from_utf8_lossy(&agentsight(&["info", out.to_str().unwrap()]).stdout).into_owned();
    assert!(info.contains(&boring_line), "{info}");
}
