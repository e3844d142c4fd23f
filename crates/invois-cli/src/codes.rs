//! `invois codes sync|import|list`: the code directory of the large tables (MSIC, units,
//! countries, currencies). The directory is `--dir`, else `$INVOIS_CODES_DIR`, else
//! `~/.local/share/invois/codes`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use invois_model::CodeTables;
use invois_model::codes::{self, LARGE_TABLE_FILES, Table};

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
    /// Code directory [default: $INVOIS_CODES_DIR or ~/.local/share/invois/codes].
    #[arg(long = "codes-dir", value_name = "DIR", env = "INVOIS_CODES_DIR")]
    pub(crate) dir: Option<PathBuf>,
}

impl DirArg {
    pub(crate) fn path(&self) -> PathBuf {
        self.dir.clone().unwrap_or_else(default_dir)
    }

    /// The tables in the directory; a missing directory means no large table is loaded.
    pub(crate) fn load(&self) -> anyhow::Result<CodeTables> {
        let dir = self.path();
        if !dir.exists() {
            return Ok(CodeTables::empty());
        }
        CodeTables::load_dir(&dir)
            .with_context(|| format!("reading code directory {}", dir.display()))
    }
}

fn default_dir() -> PathBuf {
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("."));
    home.join(".local/share/invois/codes")
}

#[derive(Debug, clap::Subcommand)]
enum CodesCommand {
    /// Download the official large code tables into the code directory.
    Sync {
        #[command(flatten)]
        dir: DirArg,
    },
    /// Import official code-table files from DIR into the code directory.
    Import {
        /// A directory holding MSICSubCategoryCodes.json, UnitTypes.json, CountryCodes.json
        /// and/or CurrencyCodes.json.
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
            print_imported(&done, &dest);
            Ok(ExitCode::SUCCESS)
        }
        CodesCommand::List { table, query, dir } => {
            let table: Table = table.parse().map_err(anyhow::Error::msg)?;
            let tables = dir.load()?;
            let Some(rows) = tables.search(table, query.as_deref()) else {
                anyhow::bail!(
                    "code table `{}` is not loaded in {} (run `invois codes sync` or `invois codes import DIR`)",
                    table.name(),
                    dir.path().display()
                );
            };
            for (code, description) in &rows {
                println!("{code}\t{description}");
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

fn print_imported(done: &[(Table, usize)], dest: &Path) {
    for (table, n) in done {
        println!("{}: {n} codes", table.name());
    }
    println!("code directory: {}", dest.display());
}

/// Downloads into a staging directory, then imports (checks and renames), so a failed download
/// never leaves a half-written table.
async fn sync(dest: &Path) -> anyhow::Result<ExitCode> {
    let staging = dest.join(".sync");
    std::fs::create_dir_all(&staging).with_context(|| format!("creating {}", staging.display()))?;
    let client = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(60))
        .build()?;
    for (_, file) in LARGE_TABLE_FILES {
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
    print_imported(&done, dest);
    Ok(ExitCode::SUCCESS)
}
