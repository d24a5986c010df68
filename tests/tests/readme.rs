//! Runs every command of README.md, so the README cannot drift from the product.
//!
//! A code block is run when the line before it (blank lines aside) is a marker comment:
//! - `<!-- README test: shell ... -->`: the block runs in one bash session shared by all such
//!   blocks, in order (so a variable set in one block is there in the next), and must succeed;
//!   when the marker mentions a blank card, a softcard is put into "Virtual PCD 00 00" first;
//! - `<!-- README test: long-running -->`: a server; it is started, must print that it
//!   listens, and is then stopped.
//!
//! The session runs in a scratch directory under the target directory, with `target` pointing at
//! the build output, the workspace binaries (`vsc`, `vsc-bridge`, `vsc-issuer`) on `PATH`, and `HOME` and
//! `XDG_CONFIG_HOME` in the scratch directory. `scripts/run` and `scripts/test` are run by
//! `scripts/test` itself.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use vsc_tests::{cargo_bin, wait_until, ChildGuard, PcscStack, SoftcardOptions};

struct Block {
    marker: String,
    code: String,
}

fn readme_blocks() -> Vec<Block> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let text = std::fs::read_to_string(root.join("README.md")).expect("README.md exists");
    let mut blocks = Vec::new();
    let mut marker: Option<String> = None;
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        let trimmed = line.trim();
        if let Some(rest) = trimmed.strip_prefix("<!-- README test:") {
            marker = Some(rest.trim_end_matches("-->").trim().to_owned());
        } else if trimmed.starts_with("```") {
            let code: Vec<&str> = lines
                .by_ref()
                .take_while(|l| !l.starts_with("```"))
                .collect();
            if let Some(marker) = marker.take() {
                blocks.push(Block {
                    marker,
                    code: code.join("\n"),
                });
            }
        } else if !trimmed.is_empty() {
            marker = None;
        }
    }
    blocks
}

/// One bash process fed block after block on stdin.
struct Session {
    child: std::process::Child,
    stdin: std::process::ChildStdin,
    stdout: BufReader<std::process::ChildStdout>,
}

impl Session {
    fn start(dir: &Path, path: &str) -> Session {
        let mut child = Command::new("bash")
            .arg("--norc")
            .current_dir(dir)
            .env("PATH", path)
            .env("HOME", dir)
            .env("XDG_CONFIG_HOME", dir.join(".config"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("bash runs");
        let stdin = child.stdin.take().unwrap();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        Session {
            child,
            stdin,
            stdout,
        }
    }

    /// Runs `code` in a subshell with `set -euo pipefail`, or in the session itself (to keep
    /// variables); returns its exit status and what it printed on stdout.
    fn run(&mut self, code: &str, subshell: bool) -> (i32, String) {
        let done = "__README_BLOCK_DONE__";
        if subshell {
            writeln!(
                self.stdin,
                "(set -euo pipefail\n{code}\n) </dev/null; echo \"{done} $?\""
            )
        } else {
            writeln!(self.stdin, "{code}\necho \"{done} $?\"")
        }
        .unwrap();
        self.stdin.flush().unwrap();
        let mut output = String::new();
        loop {
            let mut line = String::new();
            if self.stdout.read_line(&mut line).unwrap() == 0 {
                panic!("bash ended early; output so far:\n{output}");
            }
            if let Some(status) = line.trim_end().strip_prefix(done) {
                return (status.trim().parse().unwrap(), output);
            }
            print!("{line}");
            output.push_str(&line);
        }
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Keeps the shell's variables (`$file`) between blocks: each block runs in a subshell for
/// `set -e`, so its assignments are replayed in the parent afterwards.
fn exports(code: &str) -> String {
    code.lines()
        .filter(|l| {
            let name: String = l
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            !name.is_empty() && l[name.len()..].starts_with("=$(")
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn every_readme_command_works() {
    let blocks = readme_blocks();
    assert!(
        blocks.len() >= 5,
        "README test markers found: {}",
        blocks.len()
    );

    let vsc = cargo_bin("vsc");
    let bridge = cargo_bin("vsc-bridge");
    let issuer = cargo_bin("vsc-issuer");
    let bin_dir = vsc.parent().unwrap().to_path_buf();
    let target_dir: PathBuf = bin_dir.parent().unwrap().to_path_buf();
    assert_eq!(bridge.parent().unwrap(), bin_dir);
    assert_eq!(issuer.parent().unwrap(), bin_dir);
    let scratch = tempfile::Builder::new()
        .prefix("readme-")
        .tempdir_in(&target_dir)
        .unwrap();
    std::os::unix::fs::symlink(&target_dir, scratch.path().join("target")).unwrap();
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut session = Session::start(scratch.path(), &path);
    let mut stack = None;
    let mut card = None;

    for block in &blocks {
        println!("--- README block ({}):\n{}", block.marker, block.code);
        if block.marker.starts_with("long-running") {
            let log = scratch.path().join("long-running.log");
            let mut command = Command::new("bash");
            command
                .args(["-c", &format!("exec {}", block.code.trim())])
                .current_dir(scratch.path())
                .env("PATH", &path)
                .env("HOME", scratch.path())
                .env("XDG_CONFIG_HOME", scratch.path().join(".config"));
            let mut server = ChildGuard::spawn(command, &log);
            wait_until(
                Duration::from_secs(60),
                "the README's server to listen",
                || {
                    if let Some(code) = server.wait_exit(Duration::from_millis(50)) {
                        panic!(
                            "`{}` exited with {code}:\n{}",
                            block.code,
                            server.log_text()
                        );
                    }
                    server.log_text().contains("listening on")
                },
            );
            server.kill();
            continue;
        }
        assert!(
            block.marker.starts_with("shell"),
            "unknown marker {}",
            block.marker
        );
        if block.marker.contains("blank card") && card.is_none() {
            let started = PcscStack::start();
            card = Some(started.softcard(0, SoftcardOptions::new()));
            stack = Some(started);
        }
        let (status, output) = session.run(&block.code, true);
        assert_eq!(status, 0, "README block failed:\n{}", block.code);
        let (status, _) = session.run(&exports(&block.code), false);
        assert_eq!(status, 0);
        if block.code.contains("vsc personalize") {
            assert!(output.contains("verified"), "{output}");
        }
    }
    assert!(
        scratch.path().join("mailer.html").exists(),
        "the README's PIN mailer was written"
    );
    drop(card);
    drop(stack);
}
