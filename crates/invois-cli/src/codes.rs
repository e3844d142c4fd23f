//! `invois codes sync|import|list`, and the code tables every document command checks against.
//!
//! LHDN's 9 tables are compiled in (`invois_model::CodeTables::embedded`). A code directory
//! holding newer official files (`invois codes sync|import` write them) replaces those tables
//! one by one. The directory is `--codes-dir`, else `$INVOIS_CODES_DIR`, else
//! `~/.local/share/invois/codes`; a directory that is named but missing is an error, the
//! default one missing just means the embedded tables.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use invois_model::CodeTables;
use invois_model::codes::{self, Table};

/// Where the official code-table files are published (§8).
const OFFICIAL_BASE: &str = "https://sdk.myinvois.hasil.gov.my/files/";

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    #[command(subcommand)]
    command: CodesCommand,
}

/// The code directory option shared by the document commands.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct DirArg {
    /// Code directory whose official files replace the built-in tables [default:
    /// $INVOIS_CODES_DIR, else ~/.local/share/invois/codes when it exists].
    #[arg(long = "codes-dir", value_name = "DIR", env = "INVOIS_CODES_DIR")]
    pub(crate) dir: Option<PathBuf>,
}

impl DirArg {
    /// Where `sync` and `import` write.
    pub(crate) fn path(&self) -> PathBuf {
        self.dir.clone().unwrap_or_else(default_dir)
    }

    /// The embedded tables, overridden by the directory's.
    pub(crate) fn load(&self) -> anyhow::Result<CodeTables> {
        Ok(load(self.dir.as_deref())?.tables)
    }
}

/// The tables a command checks against, and which of them a code directory replaced.
#[derive(Debug)]
pub(crate) struct Loaded {
    pub(crate) tables: CodeTables,
    /// The directory read, with the tables it replaced (empty when none was read).
    pub(crate) dir: Option<(PathBuf, Vec<Table>)>,
}

impl Loaded {
    /// One line for a server's start-up output.
    pub(crate) fn describe(&self) -> String {
        match &self.dir {
            Some((dir, replaced)) if !replaced.is_empty() => {
                let names: Vec<_> = replaced.iter().map(|t| t.name()).collect();
                format!(
                    "code tables: built in, with {} from {}",
                    names.join(", "),
                    dir.display()
                )
            }
            _ => "code tables: built in".to_owned(),
        }
    }
}

/// The embedded tables, each replaced by the code directory's file when it has one.
///
/// `explicit` is a directory the user named (`--codes-dir` or an environment variable): it
/// must exist, since a typo would otherwise silently check against other tables than meant.
/// It may hold no table yet (created before a first `sync`): servers print which tables came
/// from where ([`Loaded::describe`]). Without one, the default directory is used if it exists.
pub(crate) fn load(explicit: Option<&Path>) -> anyhow::Result<Loaded> {
    let mut tables = CodeTables::embedded();
    let dir = match explicit {
        Some(dir) => {
            anyhow::ensure!(
                dir.is_dir(),
                "code directory {} does not exist (see `invois codes sync` or `invois codes import`)",
                dir.display()
            );
            dir.to_owned()
        }
        None => {
            let dir = default_dir();
            if !dir.is_dir() {
                return Ok(Loaded { tables, dir: None });
            }
            dir
        }
    };
    let replaced = tables
        .overlay_dir(&dir)
        .with_context(|| format!("reading code directory {}", dir.display()))?;
    Ok(Loaded {
        tables,
        dir: Some((dir, replaced)),
    })
}

fn default_dir() -> PathBuf {
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("."));
    home.join(".local/share/invois/codes")
}

#[derive(Debug, clap::Subcommand)]
enum CodesCommand {
    /// Download LHDN's 9 official code tables into the code directory (they then replace the
    /// built-in ones).
    Sync {
        #[command(flatten)]
        dir: DirArg,
    },
    /// Import official code-table files from DIR into the code directory.
    Import {
        /// A directory holding official code-table files (MSICSubCategoryCodes.json,
        /// UnitTypes.json, CountryCodes.json, CurrencyCodes.json, StateCodes.json, ...).
        source: PathBuf,
        #[command(flatten)]
        dir: DirArg,
    },
    /// List the codes of TABLE whose code or description contains QUERY.
    List {
        /// types, tax, states, payment, class, msic, units, countries or currencies.
        table: String,
        /// Case-insensitive text to look for.
        query: Option<String>,
        #[command(flatten)]
        dir: DirArg,
    },
}

pub(crate) async fn run(args: Args) -> anyhow::Result<ExitCode> {
    match args.command {
        CodesCommand::Sync { dir } => sync(&dir.path()).await,
        CodesCommand::Import { source, dir } => {
            let dest = dir.path();
            let done = codes::import_dir(&source, &dest)
                .with_context(|| format!("importing from {}", source.display()))?;
            print_imported(&done, &dest)?;
            Ok(ExitCode::SUCCESS)
        }
        CodesCommand::List { table, query, dir } => {
            let table: Table = table.parse().map_err(anyhow::Error::msg)?;
            let tables = dir.load()?;
            // Every table is embedded, so one is always there.
            let rows = tables.search(table, query.as_deref()).unwrap_or_default();
            for (code, description) in &rows {
                outln!("{code}\t{description}")?;
            }
            // Nothing found is a negative answer, like grep.
            Ok(if rows.is_empty() {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            })
        }
    }
}

fn print_imported(done: &[(Table, usize)], dest: &Path) -> std::io::Result<()> {
    for (table, n) in done {
        outln!("{}: {n} codes", table.name())?;
    }
    outln!("code directory: {}", dest.display())
}

/// Downloads into a staging directory, then imports (checks and renames), so a failed download
/// never leaves a half-written table.
async fn sync(dest: &Path) -> anyhow::Result<ExitCode> {
    let staging = dest.join(".sync");
    std::fs::create_dir_all(&staging).with_context(|| format!("creating {}", staging.display()))?;
    let client = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(60))
        .build()?;
    for table in Table::ALL {
        let file = table.file_name();
        let url = format!("{OFFICIAL_BASE}{file}");
        let response = client
            .get(&url)
            .send()
            .await
            .and_then(|r| r.error_for_status())
            .with_context(|| format!("downloading {url}"))?;
        let bytes = response
            .bytes()
            .await
            .with_context(|| format!("downloading {url}"))?;
        std::fs::write(staging.join(file), &bytes).with_context(|| format!("writing {file}"))?;
    }
    let done = codes::import_dir(&staging, dest)?;
    let _ = std::fs::remove_dir_all(&staging);
    print_imported(&done, dest)?;
    Ok(ExitCode::SUCCESS)
}
