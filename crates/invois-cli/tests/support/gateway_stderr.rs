//! Watching a running `invois gateway` process's standard error, for the tests and benches
//! that start the real binary (included by path: they are separate targets).

use std::io::{BufRead as _, BufReader};
use std::process::ChildStderr;

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
