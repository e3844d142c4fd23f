//! Driving the real `invois gateway` binary, for the tests and benches that start it
//! (included by path: they are separate targets).

use std::io::{BufRead as _, BufReader};
use std::process::{ChildStderr, Command};

/// What the gateway logs once its ERP API listens, followed by the address.
const ANNOUNCEMENT: &str = "ERP API on http://";

/// Reads `stderr` to the end on a thread of its own, so the pipe never fills and blocks the
/// gateway. The address its ERP API announces (`127.0.0.1:PORT`) is sent once on the
/// returned channel; every line, that one included, goes to `each`.
pub(crate) fn watch(
    stderr: ChildStderr,
    mut each: impl FnMut(String) + Send + 'static,
) -> tokio::sync::oneshot::Receiver<String> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::spawn(move || {
        let mut tx = Some(tx);
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some(rest) = line.split(ANNOUNCEMENT).nth(1)
                && let Some(t) = tx.take()
            {
                let addr = rest.split_whitespace().next().unwrap_or_default();
                let _ = t.send(addr.trim_end_matches([',', ' ']).to_owned());
            }
            each(line);
        }
    });
    rx
}

/// Creates an API key named `name` in the gateway database `db` through the `invois` binary
/// at `binary` (`--create-api-key`), which prints it once on stdout.
pub(crate) fn create_api_key(binary: &str, db: &str, name: &str) -> String {
    let out = Command::new(binary)
        .args(["gateway", "--database", db, "--create-api-key", name])
        .env_remove("INVOIS_DATABASE_URL")
        .output()
        .expect("the invois binary runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let key = String::from_utf8(out.stdout)
        .expect("the key is text")
        .trim()
        .to_owned();
    assert!(!key.is_empty(), "the binary printed no key");
    key
}
