//! Logs written to a pipe (a log file, journald, a CI capture) carry no ANSI colour codes.
//! The real binary runs `invois gateway` on the built-in sandbox with stderr piped, at
//! `RUST_LOG=debug` so that it certainly logs, and is stopped after a few seconds.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
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
    let lines = Arc::new(Mutex::new(Vec::<String>::new()));
    let reader = {
        let lines = Arc::clone(&lines);
        // Reads to the end, so the pipe never fills and blocks the gateway.
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                lines.lock().unwrap().push(line);
            }
        })
    };
    let started = Instant::now();
    let mut ready_at = None;
    while started.elapsed() < Duration::from_secs(60) {
        if ready_at.is_none()
            && lines
                .lock()
                .unwrap()
                .iter()
                .any(|l| l.contains("ERP API on"))
        {
            ready_at = Some(Instant::now());
        }
        // A few seconds of the pipeline's loops after start-up.
        if ready_at.is_some_and(|t| t.elapsed() > Duration::from_secs(3)) {
            break;
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!(
                "the gateway exited with {status}: {:?}",
                lines.lock().unwrap()
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    child.kill().expect("the gateway stops");
    child.wait().expect("reaped");
    reader.join().unwrap();
    let lines = lines.lock().unwrap();
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
