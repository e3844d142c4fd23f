//! Where test documents come from: the project's own [fixtures](crate::fixtures), always, and
//! LHDN's official samples as an extra conformance suite when `INVOIS_LHDN_SAMPLES` names a
//! folder of them (laid out as LHDN publishes them: `v1.0/`, `v1.1/`, `v1.2-svdp/`,
//! `v1.3-svdp/`, `signed/`, with `codes/` and `postman/` beside it).
//!
//! A test that should hold for any well-formed document loops over [`Corpus::available`]; a
//! test of LHDN's own publications asks for [`Corpus::lhdn`], which prints that it is skipped
//! when the variable is unset.

use std::path::{Path, PathBuf};

use invois_model::Format;
use serde_json::Value;

use crate::fixtures::{self, Kind, Version};

/// The environment variable that switches on the LHDN samples suite.
pub const LHDN_SAMPLES_VAR: &str = "INVOIS_LHDN_SAMPLES";

/// A set of documents to test with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Corpus {
    /// The project's committed fixtures (`crates/invois-testkit/fixtures/documents`).
    Fixtures(PathBuf),
    /// LHDN's official samples, from `INVOIS_LHDN_SAMPLES`.
    Lhdn(PathBuf),
}

impl Corpus {
    /// The project's fixtures.
    pub fn fixtures() -> Corpus {
        Corpus::Fixtures(fixtures::root())
    }

    /// LHDN's samples when `INVOIS_LHDN_SAMPLES` is set; otherwise prints why the caller is
    /// skipped (so a run's output says what it did not check) and returns `None`.
    pub fn lhdn() -> Option<Corpus> {
        match std::env::var_os(LHDN_SAMPLES_VAR) {
            Some(dir) if !dir.is_empty() => {
                let dir = PathBuf::from(dir);
                assert!(
                    dir.join("v1.0").is_dir(),
                    "{LHDN_SAMPLES_VAR}={} holds no v1.0 folder of LHDN samples",
                    dir.display()
                );
                Some(Corpus::Lhdn(dir))
            }
            _ => {
                say_skipped();
                None
            }
        }
    }

    /// The fixtures, then LHDN's samples when they are switched on.
    pub fn available() -> Vec<Corpus> {
        let mut v = vec![Corpus::fixtures()];
        v.extend(Corpus::lhdn());
        v
    }

    /// `fixtures` or `LHDN samples`, for assertion messages.
    pub fn name(&self) -> &'static str {
        match self {
            Corpus::Fixtures(_) => "fixtures",
            Corpus::Lhdn(_) => "LHDN samples",
        }
    }

    /// The folder.
    pub fn root(&self) -> &Path {
        match self {
            Corpus::Fixtures(p) | Corpus::Lhdn(p) => p,
        }
    }

    /// Whether this is LHDN's publication.
    pub fn is_lhdn(&self) -> bool {
        matches!(self, Corpus::Lhdn(_))
    }

    /// The document of a kind in a version, as published (signed for 1.1 and 1.3).
    pub fn path(&self, version: Version, kind: Kind, format: Format) -> PathBuf {
        match self {
            Corpus::Fixtures(root) => {
                root.join(fixtures::relative_path(kind, version, format, true))
            }
            Corpus::Lhdn(root) => {
                let dir = match version {
                    Version::V1_0 => "v1.0",
                    Version::V1_1 => "v1.1",
                    Version::V1_2 => "v1.2-svdp",
                    Version::V1_3 => "v1.3-svdp",
                };
                let ext = extension(format);
                root.join(dir).join(format!(
                    "{}-{}-Sample.{ext}",
                    version.as_str(),
                    kind.lhdn_stem()
                ))
            }
        }
    }

    /// The document's bytes.
    pub fn read(&self, version: Version, kind: Kind, format: Format) -> Vec<u8> {
        let path = self.path(version, kind, format);
        std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    /// A JSON document as a value.
    pub fn json(&self, version: Version, kind: Kind) -> Value {
        let bytes = self.read(version, kind, Format::Json);
        serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("{kind:?} {version:?}: {e}"))
    }

    /// An XML document as text.
    pub fn xml(&self, version: Version, kind: Kind) -> String {
        String::from_utf8(self.read(version, kind, Format::Xml))
            .unwrap_or_else(|e| panic!("{kind:?} {version:?}: {e}"))
    }

    /// Every (version, kind) this corpus has.
    pub fn entries(&self) -> Vec<(Version, Kind)> {
        Version::ALL
            .into_iter()
            .flat_map(|v| {
                Kind::ALL
                    .into_iter()
                    .filter(move |k| k.in_version(v))
                    .map(move |k| (v, k))
            })
            .collect()
    }

    /// Every document file of a format, sorted: each version's documents, the fixtures'
    /// unsigned forms of 1.1/1.3, and LHDN's `signed/` folder. Fails if there are none.
    pub fn files(&self, format: Format) -> Vec<PathBuf> {
        let ext = extension(format);
        let mut out = Vec::new();
        let dirs = std::fs::read_dir(self.root())
            .unwrap_or_else(|e| panic!("{}: {e}", self.root().display()));
        for dir in dirs.flatten().map(|e| e.path()).filter(|p| p.is_dir()) {
            let name = dir.file_name().and_then(|n| n.to_str()).unwrap_or_default();
            if !(name.starts_with('v') || name == "signed") {
                continue;
            }
            for file in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
                let p = file.path();
                if p.extension().and_then(|x| x.to_str()) == Some(ext) {
                    out.push(p);
                }
            }
        }
        out.sort();
        assert!(
            !out.is_empty(),
            "no .{ext} documents in {}",
            self.root().display()
        );
        out
    }

    /// The signed documents of a format (1.1 and 1.3, and LHDN's `signed/`).
    pub fn signed_files(&self, format: Format) -> Vec<PathBuf> {
        self.files(format)
            .into_iter()
            .filter(|p| {
                let dir = p
                    .parent()
                    .and_then(|d| d.file_name())
                    .and_then(|n| n.to_str())
                    .unwrap_or_default();
                !dir.ends_with("-unsigned")
                    && (dir.starts_with("v1.1") || dir.starts_with("v1.3") || dir == "signed")
            })
            .collect()
    }

    /// LHDN's code tables beside the samples (`<samples>/../codes`); fixtures have none, as
    /// the binary embeds the tables.
    pub fn codes_dir(&self) -> Option<PathBuf> {
        match self {
            Corpus::Lhdn(root) => Some(root.join("../codes")),
            Corpus::Fixtures(_) => None,
        }
    }
}

/// Says once per test binary that the LHDN suite did not run. Written to the stderr handle
/// itself, because the test harness captures `eprintln!` of passing tests and the point is
/// that a run's output shows what it left out.
fn say_skipped() {
    use std::io::Write as _;
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let _ = writeln!(
            std::io::stderr(),
            "skipped: LHDN's official samples suite ({LHDN_SAMPLES_VAR} is not set)"
        );
    });
}

fn extension(format: Format) -> &'static str {
    match format {
        Format::Json => "json",
        Format::Xml => "xml",
    }
}

/// The project's fixture of a kind in a version (signed for 1.1 and 1.3) as JSON.
pub fn fixture_json(version: Version, kind: Kind) -> Value {
    Corpus::fixtures().json(version, kind)
}

/// The project's fixture as XML text.
pub fn fixture_xml(version: Version, kind: Kind) -> String {
    Corpus::fixtures().xml(version, kind)
}

/// The unsigned form of a fixture (for 1.1 and 1.3 the `-unsigned` folder).
pub fn unsigned_fixture(version: Version, kind: Kind, format: Format) -> Vec<u8> {
    let path = fixtures::root().join(fixtures::relative_path(kind, version, format, false));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}
