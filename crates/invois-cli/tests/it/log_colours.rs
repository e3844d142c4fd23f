//! Logs written to a pipe (a log file, journald, a CI capture) carry no ANSI colour codes.
//! The real binary runs `invois gateway` on the built-in sandbox with stderr piped, at
//! `RUST_LOG=debug` so that it certainly logs, and is stopped after a few seconds.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[test]
fn logs_to_a_pipe_have_no_colour_codes() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("invois.db").display());
    let mut child = Command::new(env!("CARGO_BIN_EXE_invois"))
        .args(["gateway", "--database", &db, "--listen", "127.0.0.1:0"])
        .env("RUST_LOG", "debug")
        // Whatever the developer's shell has set must not steer the run.
        .env_remove("NO_COLOR")
        .env_remove("INVOIS_LOG_FORMAT")
        .env_remove("INVOIS_DATABASE_URL")
        .env_remove("INVOIS_CLIENT_ID")
        .env_remove("INVOIS_CLIENT_SECRET")
        .env_remove("INVOIS_ENV")
        .env_remove("INVOIS_API_BASE")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the invois binary starts");
    let stderr = child.stderr.take().expect("stderr is piped");
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    // Reads to the end, so the pipe never fills and blocks the gateway.
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut lines = Vec::new();
    let started = Instant::now();
    let mut ready_at = None;
    // Until start-up, then a few seconds of the pipeline's loops; the reader's channel is the
    // only wait (it ends early if the gateway exits).
    while started.elapsed() < Duration::from_secs(60)
        && ready_at.is_none_or(|t: Instant| t.elapsed() < Duration::from_secs(3))
    {
        match rx.recv_timeout(Duration::from_millis(200)) {
            Ok(line) => {
                if ready_at.is_none() && line.contains("ERP API on") {
                    ready_at = Some(Instant::now());
                }
                lines.push(line);
            }
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => break,
        }
    }
    child.kill().expect("the gateway stops");
    child.wait().expect("reaped");
    reader.join().unwrap();
    lines.extend(rx.try_iter());
    assert!(ready_at.is_some(), "the gateway never started: {lines:?}");
    let text = lines.join("\n");
    assert!(
        text.contains(" DEBUG ") || text.contains(" INFO "),
        "no log lines at all, so nothing was tested: {text}"
    );
    assert!(
        !text.contains("\x1b["),
        "colour codes in logs written to a pipe: {text:?}"
    );
}
