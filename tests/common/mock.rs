//! The HTTPS mock LLM server (tests/support/mock_llm.py) as a child process,
//! and the recorder run against it.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use super::BIN;

pub const API_KEY: &str = "sk-agentsight-secret-9f8e7d6c5b4a3210";

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub struct MockServer {
    child: Child,
    pub port: u16,
    pub cert: PathBuf,
    pub log: PathBuf,
    dump: PathBuf,
}

impl MockServer {
    pub fn start(dir: &Path) -> MockServer {
        Self::start_with(dir, &[])
    }

    /// Starts the server with extra arguments (e.g. `--script FILE`).
    pub fn start_with(dir: &Path, extra: &[&str]) -> MockServer {
        let ready = dir.join("ready.json");
        let log = dir.join("server.jsonl");
        let _ = std::fs::remove_file(&ready);
        let _ = std::fs::remove_file(&log);
        let _ = std::fs::remove_dir_all(dir.join("dump"));
        std::fs::create_dir_all(dir.join("dump")).unwrap();
        let child = Command::new("python3")
            .arg(repo().join("tests/support/mock_llm.py"))
            .args(["--cert-dir", &dir.join("certs").display().to_string()])
            .args(["--log", &log.display().to_string()])
            .args(["--dump-dir", &dir.join("dump").display().to_string()])
            .args([
                "--ready-file",
                &ready.display().to_string(),
                "--quiet-ready",
                "--max-seconds",
                "600",
            ])
            .args(extra)
            .stdout(Stdio::null())
            .spawn()
            .expect("start mock server");
        let t0 = Instant::now();
        while !ready.exists() {
            assert!(
                t0.elapsed() < Duration::from_secs(60),
                "mock server did not start"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        let v: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&ready).unwrap()).unwrap();
        MockServer {
            child,
            port: v["port"].as_u64().unwrap() as u16,
            cert: PathBuf::from(v["cert"].as_str().unwrap()),
            log,
            dump: dir.join("dump"),
        }
    }

    pub fn base_url(&self) -> String {
        format!("https://localhost:{}", self.port)
    }

    pub fn env(&self, cmd: &mut Command) {
        cmd.env("MOCK_BASE_URL", self.base_url())
            .env("MOCK_API_KEY", API_KEY)
            .env("SSL_CERT_FILE", &self.cert)
            .env("NODE_EXTRA_CA_CERTS", &self.cert);
    }

    /// Stops the server and returns, per connection, its log record and the
    /// exact plaintext it received and sent.
    pub fn stop(mut self) -> Vec<ServerConn> {
        // SAFETY: signalling our own child.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let _ = self.child.wait();
        std::fs::read_to_string(&self.log)
            .unwrap()
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter(|v| v["type"] == "connection")
            .map(|v| {
                let id = v["conn_id"].as_u64().unwrap();
                ServerConn {
                    received: std::fs::read(self.dump.join(format!("conn-{id}.in")))
                        .unwrap_or_default(),
                    sent: std::fs::read(self.dump.join(format!("conn-{id}.out")))
                        .unwrap_or_default(),
                    log: v,
                }
            })
            .collect()
    }
}

pub struct ServerConn {
    pub log: serde_json::Value,
    pub received: Vec<u8>,
    pub sent: Vec<u8>,
}

impl Drop for MockServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn record_with(server: &MockServer, out: &Path, extra: &[&str], command: &[&str]) -> Output {
    record_with_env(server, out, extra, &[], command)
}

/// `record_with`, with environment variables for the recorder.
pub fn record_with_env(
    server: &MockServer,
    out: &Path,
    extra: &[&str],
    env: &[(&str, &str)],
    command: &[&str],
) -> Output {
    let mut cmd = Command::new(BIN);
    cmd.envs(env.iter().copied());
    cmd.arg("record")
        .arg("-o")
        .arg(out)
        .args(extra)
        .arg("--")
        .args(command)
        .current_dir(repo());
    server.env(&mut cmd);
    let output = cmd.output().expect("run recorder");
    eprintln!("client stdout: {}", String::from_utf8_lossy(&output.stdout));
    eprintln!(
        "recorder stderr: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output
}
