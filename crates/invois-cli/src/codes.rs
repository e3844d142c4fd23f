//! `invois codes sync|import|list|rules|errors`, and the code tables every document command
//! checks against. `rules` and `errors` say which LHDN sources the local rules follow (the
//! release notes through [`invois_model::rules::RULES_VERSION`]), so a user can tell whether
//! they are current.
//!
//! LHDN's 9 tables are compiled in (`invois_model::CodeTables::embedded`). A code directory
//! holding newer official files (`invois codes sync|import` write them) replaces those tables
//! one by one. The directory is `--codes-dir`, else `$INVOIS_CODES_DIR`, else
//! `~/.local/share/invois/codes`; a directory that is named but missing is an error, the
//! default one missing just means the embedded tables.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use chrono::{DateTime, TimeZone as _, Utc};
use invois_api::validator_errors;
use invois_model::CodeTables;
use invois_model::codes::{self, Table};
use invois_model::rules::{self, Environment};

/// Where the official code-table files are published (§8).
const OFFICIAL_BASE: &str = "https://sdk.myinvois.hasil.gov.my/files/";

#[derive(Debug, clap::Args)]
#[command(after_help = sources_line())]
pub(crate) struct Args {
    #[command(subcommand)]
    command: CodesCommand,
}

/// `--now`: an RFC 3339 instant, or a day (`YYYY-MM-DD`) read as its last second in Malaysia.
/// Dated rules go by Malaysian days, so any instant of the day selects the same rules; the
/// last one keeps a document issued earlier that day out of the "issued in the future" rule.
pub(crate) fn parse_instant(s: &str) -> Result<DateTime<Utc>, String> {
    let s = s.trim();
    if let Ok(at) = DateTime::parse_from_rfc3339(s) {
        return Ok(at.with_timezone(&Utc));
    }
    let day = chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .map_err(|_| format!("`{s}` is neither an RFC 3339 time nor a day YYYY-MM-DD"))?;
    let last_second = day.and_hms_opt(23, 59, 59).unwrap_or_default();
    invois_model::consolidation::malaysia()
        .from_local_datetime(&last_second)
        .single()
        .map(|at| at.with_timezone(&Utc))
        .ok_or_else(|| format!("`{s}` has no last second in Malaysia"))
}

/// One line naming the newest LHDN release note the local rules follow.
pub(crate) fn sources_line() -> String {
    format!(
        "Local rules follow LHDN's MyInvois SDK release notes through {} (see `invois codes rules`).",
        rules::RULES_VERSION
    )
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
    /// The dated rules (field limits and consolidation rules) with their first day in each
    /// environment, and the LHDN sources they follow, read through which date.
    Rules {
        /// Mark the rules in force in this environment (`sandbox` or `production`).
        #[arg(long, default_value = "production")]
        environment: Environment,
        /// Mark the rules in force at this instant (RFC 3339) or day (YYYY-MM-DD) instead of
        /// now.
        #[arg(long, value_name = "TIME", value_parser = parse_instant)]
        now: Option<DateTime<Utc>>,
    },
    /// LHDN's published validator error codes with their texts, as the sandbox answers them
    /// and `invois validate` reports them.
    Errors,
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
        CodesCommand::Rules { environment, now } => {
            print_rules(environment, now.unwrap_or_else(Utc::now))?;
            Ok(ExitCode::SUCCESS)
        }
        CodesCommand::Errors => {
            print_errors()?;
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

/// The sources, then the table: one rule a line, tab-separated, `*` marking the rules in force.
fn print_rules(environment: Environment, now: DateTime<Utc>) -> std::io::Result<()> {
    print_sources()?;
    outln!()?;
    outln!(
        "rules version {}; * = in force in {environment} at {}",
        rules::RULES_VERSION,
        now.to_rfc3339()
    )?;
    outln!("\trule\tfield\tlimit\tsandbox from\tproduction from\tuntil\tsource")?;
    let day =
        |d: Option<chrono::NaiveDate>| d.map_or_else(|| "always".to_owned(), |d| d.to_string());
    for row in rules::RULES {
        let in_force = rules::in_force(row.rule, environment, now);
        outln!(
            "{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}",
            if in_force { "*" } else { "" },
            row.rule.name(),
            row.field.unwrap_or("-"),
            row.limit,
            day(row.sandbox_from),
            day(row.production_from),
            row.effective_until
                .map_or_else(|| "-".to_owned(), |d| d.to_string()),
            if row.on_hold {
                format!("{} (on hold)", row.source)
            } else {
                row.source.to_owned()
            },
        )?;
    }
    Ok(())
}

fn print_sources() -> std::io::Result<()> {
    outln!("{}", sources_line())?;
    for source in rules::SOURCES {
        let through = source
            .covered_through
            .map_or_else(|| "undated".to_owned(), |d| format!("through {d}"));
        outln!(
            "  {}: {through}; {} ({})",
            source.name,
            source.note,
            source.url
        )?;
    }
    Ok(())
}

/// The published codes: code (`null` as LHDN prints it), validator, text, source page.
fn print_errors() -> std::io::Result<()> {
    print_sources()?;
    outln!()?;
    outln!("code\tvalidator\tLHDN's text\tfield\tsource")?;
    for e in validator_errors::PUBLISHED {
        outln!(
            "{}\t{}\t{}\t{}\t{}",
            e.code.unwrap_or("null"),
            e.validator.name(),
            e.text,
            e.field,
            validator_errors::source_url(&e)
        )?;
    }
    Ok(())
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
