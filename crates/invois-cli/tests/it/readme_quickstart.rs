//! The README is the front door, so what it tells a newcomer to run must work as printed:
//!
//! - the quick start (every fenced block after a `<!-- quickstart -->` line) runs in bash,
//!   unchanged, from the repository root with the `invois` built for this test first on
//!   `PATH`, and every example document it sends ends `valid`, the credit note with the UUID
//!   MyInvois gave the invoice it credits;
//! - the `invois submit` commands of `examples/README.md` succeed;
//! - every relative link (and `#anchor`) in the README, `docs/` and `examples/README.md`
//!   resolves, and the README stays under 400 lines;
//! - every published crate's README is its rustdoc front page.
//!
//! The only things set around the commands are what a user would not need: a free port
//! (`INVOIS_LISTEN`, which the quick start reads too) and a temporary database
//! (`INVOIS_DATABASE_URL`), so runs never collide with each other or with a real `invois.db`.

use std::collections::{BTreeMap, BTreeSet};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// The examples the quick start sends, by internal id.
const EXAMPLE_IDS: [&str; 7] = [
    "INV-2026-0001",
    "INV-2026-0002",
    "INV-2026-0003",
    "INV-2026-0004",
    "CON-2026-0001",
    "SB-2026-0001",
    "CN-2026-0001",
];

/// How long the quick start may take in a debug build on a busy two-core machine (its
/// documents are valid a few seconds after they are sent).
const SCRIPT_LIMIT: Duration = Duration::from_secs(240);

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("repository root")
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

/// Lines outside fenced code blocks, with their 1-based numbers, and the fenced blocks.
struct Markdown {
    prose: Vec<(usize, String)>,
    /// (the line just before the opening fence, the fence's info string, the block's text)
    blocks: Vec<(String, String, String)>,
}

fn parse_markdown(text: &str) -> Markdown {
    let mut prose = Vec::new();
    let mut blocks = Vec::new();
    let mut open: Option<(String, String, String)> = None;
    let mut previous = String::new();
    for (i, line) in text.lines().enumerate() {
        let trimmed = line.trim_start();
        match &mut open {
            Some(block) if trimmed.starts_with("```") => {
                blocks.push(std::mem::take(block));
                open = None;
            }
            Some((_, _, body)) => {
                // Blocks inside list items are indented; the commands are not.
                let indent = line.len() - trimmed.len();
                body.push_str(if indent <= 3 { trimmed } else { line });
                body.push('\n');
            }
            None if trimmed.starts_with("```") => {
                let info = trimmed.trim_start_matches('`').trim().to_owned();
                open = Some((previous.trim().to_owned(), info, String::new()));
            }
            None => prose.push((i + 1, line.to_owned())),
        }
        if !line.trim().is_empty() {
            previous = line.to_owned();
        }
    }
    assert!(open.is_none(), "an unclosed code fence");
    Markdown { prose, blocks }
}

/// The quick start: every block marked `<!-- quickstart -->`, in order.
fn quickstart_script(readme: &str) -> String {
    let blocks: Vec<String> = parse_markdown(readme)
        .blocks
        .into_iter()
        .filter(|(before, _, _)| before == "<!-- quickstart -->")
        .map(|(_, info, body)| {
            assert_eq!(info, "sh", "a quick-start block is a `sh` block");
            body
        })
        .collect();
    assert!(
        !blocks.is_empty(),
        "README.md has no code block marked `<!-- quickstart -->`"
    );
    blocks.join("\n")
}

/// A directory whose only entry is `invois`, the binary under test, to go first on `PATH`
/// as `cargo install --path crates/invois-cli` would put it.
fn bin_dir(tmp: &Path) -> PathBuf {
    let dir = tmp.join("bin");
    std::fs::create_dir_all(&dir).unwrap();
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_invois"), dir.join("invois")).unwrap();
    dir
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Environment for the README's commands: ours first on `PATH`, a temporary database, and
/// no MyInvois credentials (so nothing can reach LHDN whatever the caller's environment).
fn user_command(program: &str, tmp: &Path, database: &str) -> Command {
    let path = format!(
        "{}:{}",
        bin_dir_path(tmp).display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut cmd = Command::new(program);
    cmd.current_dir(repo_root())
        .env("PATH", path)
        .env("INVOIS_DATABASE_URL", database)
        .env("NO_COLOR", "1");
    for (name, _) in std::env::vars() {
        if name.starts_with("INVOIS_") && name != "INVOIS_DATABASE_URL" {
            cmd.env_remove(name);
        }
    }
    cmd
}

fn bin_dir_path(tmp: &Path) -> PathBuf {
    tmp.join("bin")
}

/// Kills a process group on drop, so a failed assertion never leaves a gateway running.
struct Group(Child);

impl Drop for Group {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", "--", &format!("-{}", self.0.id())])
            .status();
        let _ = self.0.wait();
    }
}

/// Waits in real time: what is awaited is other processes (bash, the gateway), which no
/// injectable clock drives.
#[expect(
    clippy::disallowed_methods,
    reason = "the quick start runs real processes in real time"
)]
fn pause(d: Duration) {
    std::thread::sleep(d);
}

fn curl_json(url: &str, key: &str) -> Value {
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "10", url, "-H"])
        .arg(format!("Authorization: Bearer {key}"))
        .output()
        .expect("curl runs");
    assert!(out.status.success(), "curl {url}: {out:?}");
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{url} answered {e}: {}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

#[test]
fn readme_quick_start_runs_as_written() {
    let root = repo_root();
    let script = quickstart_script(&read(&root.join("README.md")));
    let tmp = tempfile::tempdir().unwrap();
    bin_dir(tmp.path());
    let database = format!("sqlite://{}", tmp.path().join("invois.db").display());
    let listen = format!("127.0.0.1:{}", free_port());
    let stdout = tmp.path().join("stdout");
    let stderr = tmp.path().join("stderr");

    // `set -eu` only makes a failing command stop the run instead of being skipped past;
    // every command is the README's own.
    let mut cmd = user_command("bash", tmp.path(), &database);
    cmd.arg("-c")
        .arg(format!("set -eu\n{script}"))
        .env("INVOIS_LISTEN", &listen)
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&stdout).unwrap())
        .stderr(std::fs::File::create(&stderr).unwrap())
        // Its own process group: the gateway it starts in the background dies with it.
        .process_group(0);
    let mut group = Group(cmd.spawn().expect("bash runs"));
    let started = Instant::now();
    let status = loop {
        if let Some(status) = group.0.try_wait().unwrap() {
            break Some(status);
        }
        if started.elapsed() > SCRIPT_LIMIT {
            break None;
        }
        pause(Duration::from_millis(200));
    };
    let output = || {
        format!(
            "--- stdout\n{}\n--- stderr\n{}",
            read(&stdout),
            read(&stderr)
        )
    };
    match status {
        None => panic!(
            "the quick start did not finish within {SCRIPT_LIMIT:?}\n{}",
            output()
        ),
        Some(s) if !s.success() => panic!("the quick start failed ({s})\n{}", output()),
        Some(_) => {}
    }

    // The gateway the quick start left running answers the test through a key of its own.
    let key = user_command("invois", tmp.path(), &database)
        .args(["gateway", "--create-api-key", "readme-test"])
        .output()
        .unwrap();
    assert!(key.status.success(), "{key:?}");
    let key = String::from_utf8(key.stdout).unwrap().trim().to_owned();
    let api = format!("http://{listen}");
    let deadline = Instant::now() + Duration::from_secs(120);
    let documents: BTreeMap<String, Value> = loop {
        let list = curl_json(&format!("{api}/v1/documents?limit=100"), &key);
        let docs: BTreeMap<String, Value> = list["documents"]
            .as_array()
            .expect("a document list")
            .iter()
            .map(|d| (d["internal_id"].as_str().unwrap().to_owned(), d.clone()))
            .collect();
        let finished = EXAMPLE_IDS
            .iter()
            .all(|id| docs.get(*id).is_some_and(|d| d["final"] == true));
        if finished {
            break docs;
        }
        assert!(
            Instant::now() < deadline,
            "not every example is final after 2 minutes: {docs:#?}\n{}",
            output()
        );
        pause(Duration::from_millis(500));
    };
    let ids: BTreeSet<&str> = documents.keys().map(String::as_str).collect();
    assert_eq!(ids, EXAMPLE_IDS.into_iter().collect(), "{documents:#?}");
    for (id, doc) in &documents {
        assert_eq!(doc["state"], "valid", "{id}: {doc:#}");
        assert!(doc["uuid"].is_string(), "{id}: {doc:#}");
    }

    // Each validation link opens something real on this machine: the built-in sandbox's
    // portal page for that document, not LHDN's preprod portal, which never saw it.
    for (id, doc) in &documents {
        let link = doc["validation_link"]
            .as_str()
            .unwrap_or_else(|| panic!("{id}: {doc:#}"));
        assert!(link.starts_with("http://127.0.0.1:"), "{id}: {link}");
        let page = Command::new("curl")
            .args(["-sS", "--fail", "--max-time", "10", link])
            .output()
            .expect("curl runs");
        assert!(page.status.success(), "{id}: {link}: {page:?}");
        let page = String::from_utf8_lossy(&page.stdout);
        assert!(page.contains(doc["uuid"].as_str().unwrap()), "{id}: {page}");
        assert!(page.contains(id.as_str()), "{id}: {page}");
    }

    // What was submitted for the credit note names the invoice by the UUID MyInvois gave it.
    let archive = tmp.path().join("archive");
    let export = user_command("invois", tmp.path(), &database)
        .args(["archive", "export", "--out"])
        .arg(&archive)
        .output()
        .unwrap();
    assert!(export.status.success(), "{export:?}");
    let note_dir = std::fs::read_dir(archive.join("documents"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.to_string_lossy().contains("CN-2026-0001"))
        .expect("the credit note is archived");
    let prepared: Value = serde_json::from_str(&read(&note_dir.join("prepared.json"))).unwrap();
    let reference = &prepared["Invoice"][0]["BillingReference"][0]["InvoiceDocumentReference"][0];
    assert_eq!(reference["ID"][0]["_"], "INV-2026-0001", "{prepared:#}");
    assert_eq!(
        reference["UUID"][0]["_"], documents["INV-2026-0001"]["uuid"],
        "{prepared:#}"
    );
    drop(group);
}

/// The sandbox walk-through in docs/sandbox.md (the block marked `<!-- sandbox-example -->`),
/// run in bash with its two fixed ports swapped for free ones (the only change), in a
/// scratch directory: the submission it makes is found again by the `$SUBMISSION_UID` it
/// reads out of the answer, and the admin calls succeed.
#[test]
fn sandbox_doc_example_runs() {
    let doc = read(&repo_root().join("docs/sandbox.md"));
    let block = parse_markdown(&doc)
        .blocks
        .into_iter()
        .find(|(before, _, _)| before == "<!-- sandbox-example -->")
        .map(|(_, _, body)| body)
        .expect("docs/sandbox.md has a block marked `<!-- sandbox-example -->`");
    let (api, admin) = (free_port(), free_port());
    let script = block
        .replace("127.0.0.1:8642", &format!("127.0.0.1:{api}"))
        .replace("127.0.0.1:8643", &format!("127.0.0.1:{admin}"));
    let tmp = tempfile::tempdir().unwrap();
    bin_dir(tmp.path());
    let database = format!("sqlite://{}", tmp.path().join("unused.db").display());
    let (stdout, stderr) = (tmp.path().join("stdout"), tmp.path().join("stderr"));
    let mut cmd = user_command("bash", tmp.path(), &database);
    cmd.current_dir(tmp.path())
        .arg("-c")
        .arg(format!("set -eu\n{script}"))
        // `invois sandbox` listens on 8642 unless told; the block relies on that default.
        .env("INVOIS_SANDBOX_LISTEN", format!("127.0.0.1:{api}"))
        .stdin(Stdio::null())
        // Files, not pipes: the sandbox left running in the background holds its output
        // open, so a pipe would never reach end of file.
        .stdout(std::fs::File::create(&stdout).unwrap())
        .stderr(std::fs::File::create(&stderr).unwrap())
        .process_group(0);
    let mut group = Group(cmd.spawn().expect("bash runs"));
    let started = Instant::now();
    let status = loop {
        if let Some(status) = group.0.try_wait().unwrap() {
            break status;
        }
        assert!(
            started.elapsed() < SCRIPT_LIMIT,
            "the example did not finish: {}",
            read(&stdout)
        );
        pause(Duration::from_millis(200));
    };
    // Dropping the group stops the sandbox the block started in the background.
    drop(group);
    let (stdout, stderr) = (read(&stdout), read(&stderr));
    let text = format!("{stdout}\n--- stderr\n{stderr}");
    assert!(status.success(), "{text}");
    let uid = stdout
        .split("\"submissionUid\":\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap_or_else(|| panic!("no submissionUid in the answer: {text}"));
    // The Get Submission call, made with $SUBMISSION_UID, answered for that submission.
    assert!(
        stdout
            .matches(&format!("\"submissionUid\":\"{uid}\""))
            .count()
            >= 2,
        "{text}"
    );
    assert!(stdout.contains("\"overallStatus\""), "{text}");
}

#[test]
fn examples_readme_submit_commands_succeed() {
    let root = repo_root();
    let commands: Vec<String> = parse_markdown(&read(&root.join("examples/README.md")))
        .blocks
        .into_iter()
        .flat_map(|(_, _, body)| {
            body.lines()
                .filter(|l| l.starts_with("invois submit "))
                .map(str::to_owned)
                .collect::<Vec<_>>()
        })
        .collect();
    assert!(
        !commands.is_empty(),
        "examples/README.md shows `invois submit`"
    );
    for command in commands {
        let tmp = tempfile::tempdir().unwrap();
        bin_dir(tmp.path());
        let database = format!("sqlite://{}", tmp.path().join("invois.db").display());
        let out = user_command("bash", tmp.path(), &database)
            .args(["-c", &command])
            .output()
            .unwrap();
        // `invois submit` exits 0 only when every document is valid.
        assert!(
            out.status.success(),
            "`{command}` failed: {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn readme_is_under_400_lines() {
    let lines = read(&repo_root().join("README.md")).lines().count();
    assert!(
        lines < 400,
        "README.md has {lines} lines; move detail into docs/"
    );
}

/// GitHub's anchor for a heading: lower case, punctuation other than `-` and `_` dropped,
/// spaces as hyphens; a repeated heading gets `-1`, `-2`, ...
fn anchors(markdown: &Markdown) -> BTreeSet<String> {
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    let mut out = BTreeSet::new();
    for (_, line) in &markdown.prose {
        let Some(heading) = line.strip_prefix('#') else {
            continue;
        };
        let text = heading.trim_start_matches('#');
        if !text.starts_with(' ') {
            continue;
        }
        let slug: String = text
            .trim()
            .to_lowercase()
            .chars()
            .filter(|c| c.is_alphanumeric() || matches!(c, ' ' | '-' | '_'))
            .map(|c| if c == ' ' { '-' } else { c })
            .collect();
        let n = seen.entry(slug.clone()).or_insert(0);
        out.insert(if *n == 0 {
            slug.clone()
        } else {
            format!("{slug}-{n}")
        });
        *n += 1;
    }
    out
}

/// Inline link targets `[text](target)` outside code blocks and code spans.
fn links(markdown: &Markdown) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    for (number, line) in &markdown.prose {
        // Code spans can hold `](`; drop them first.
        let text: String = line
            .split('`')
            .enumerate()
            .map(|(i, part)| if i % 2 == 0 { part } else { "" })
            .collect();
        let mut rest = text.as_str();
        while let Some(at) = rest.find("](") {
            rest = &rest[at + 2..];
            let Some(end) = rest.find(')') else { break };
            out.push((*number, rest[..end].to_owned()));
            rest = &rest[end..];
        }
    }
    out
}

#[test]
fn readme_and_docs_links_resolve() {
    let root = repo_root();
    let mut files = vec![root.join("README.md"), root.join("examples/README.md")];
    let docs = root.join("docs");
    let mut pages: Vec<PathBuf> = std::fs::read_dir(&docs)
        .expect("a docs/ folder")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    pages.sort();
    files.extend(pages);
    for krate in std::fs::read_dir(root.join("crates")).unwrap() {
        let readme = krate.unwrap().path().join("README.md");
        if readme.exists() {
            files.push(readme);
        }
    }

    let mut broken = Vec::new();
    for file in &files {
        let markdown = parse_markdown(&read(file));
        for (line, target) in links(&markdown) {
            if target.contains("://") || target.starts_with("mailto:") {
                continue;
            }
            let (path, anchor) = match target.split_once('#') {
                Some((path, anchor)) => (path, Some(anchor)),
                None => (target.as_str(), None),
            };
            let resolved = if path.is_empty() {
                file.clone()
            } else {
                file.parent().unwrap().join(path)
            };
            let place = format!(
                "{}:{line}: {target}",
                file.strip_prefix(&root).unwrap().display()
            );
            if !resolved.exists() {
                broken.push(format!("{place} (no such file)"));
                continue;
            }
            if let Some(anchor) = anchor {
                let is_markdown = resolved.extension().is_some_and(|e| e == "md");
                if is_markdown && !anchors(&parse_markdown(&read(&resolved))).contains(anchor) {
                    broken.push(format!("{place} (no such heading)"));
                }
            }
        }
    }
    assert!(broken.is_empty(), "broken links:\n{}", broken.join("\n"));

    // The README leads into the book.
    let readme = read(&root.join("README.md"));
    assert!(readme.contains("](docs/"), "README.md links into docs/");
}

#[test]
fn published_crates_use_their_readme_as_rustdoc_front_page() {
    let root = repo_root();
    for krate in std::fs::read_dir(root.join("crates")).unwrap() {
        let dir = krate.unwrap().path();
        let manifest = read(&dir.join("Cargo.toml"));
        let lib = dir.join("src/lib.rs");
        if manifest.contains("publish = false") || !lib.exists() {
            continue;
        }
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        assert!(dir.join("README.md").exists(), "{name} has no README.md");
        assert!(
            manifest.contains("readme = \"README.md\""),
            "{name}'s Cargo.toml names no readme"
        );
        assert!(
            read(&lib).contains("#![doc = include_str!(\"../README.md\")]"),
            "{name}'s lib.rs does not use its README as the crate docs"
        );
    }
}

#[test]
fn github_anchors_follow_github() {
    let md = parse_markdown(
        "# `invois gateway`: the ERP-side service\n## Set-up\n## Set-up\n```\n# not a heading\n```\n",
    );
    let a = anchors(&md);
    assert!(a.contains("invois-gateway-the-erp-side-service"), "{a:?}");
    assert!(a.contains("set-up") && a.contains("set-up-1"), "{a:?}");
    assert!(!a.contains("not-a-heading"));
}
