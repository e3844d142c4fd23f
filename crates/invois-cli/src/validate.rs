//! `invois validate FILE...`: a readable report (or `--json`). Exit 0 all valid, 1 some
//! invalid, 2 some file unusable (unreadable or not a document).

use std::path::PathBuf;
use std::process::ExitCode;

use chrono::{DateTime, Utc};
use invois_model::consolidation;
use invois_model::{Environment, Finding, Severity, ValidationContext, validate};

use crate::codes::DirArg;

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Documents (UBL JSON, UBL XML or invois simple JSON, detected).
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
    /// Validate as of this instant (RFC 3339) or day (YYYY-MM-DD, its last second in
    /// Malaysia) instead of now: for the 72-hour window and the dated rules in force.
    #[arg(long, value_name = "TIME", value_parser = crate::codes::parse_instant)]
    now: Option<DateTime<Utc>>,
    /// The MyInvois whose dated rules apply: `production` or `sandbox` (LHDN's
    /// pre-production, which starts new rules earlier). See `invois codes rules`.
    #[arg(long, default_value = "production")]
    environment: Environment,
    /// For consolidated documents: the implementation phase (1-5) whose interim relaxation
    /// period the supplier adopts, which lifts the RM10,000 and excluded-activity rules.
    #[arg(long, value_name = "N")]
    relaxation_phase: Option<u8>,
    /// Another last day for that relaxation period (phases 4 and 5 have disputed ends).
    #[arg(long, value_name = "DATE", requires = "relaxation_phase")]
    relaxation_until: Option<chrono::NaiveDate>,
    #[command(flatten)]
    codes: DirArg,
}

fn consolidation_context(args: &Args) -> anyhow::Result<consolidation::ConsolidationContext> {
    let relaxation = match args.relaxation_phase {
        Some(n) => {
            let phase = consolidation::Phase::from_number(n)
                .ok_or_else(|| anyhow::anyhow!("--relaxation-phase is 1 to 5, not {n}"))?;
            let period = consolidation::Relaxation::of_phase(phase);
            Some(args.relaxation_until.map_or(period, |d| period.ending(d)))
        }
        None => None,
    };
    Ok(consolidation::ConsolidationContext {
        relaxation,
        environment: args.environment,
    })
}

enum Outcome {
    Unusable(String),
    Checked(Vec<Finding>),
}

pub(crate) async fn run(args: Args) -> anyhow::Result<ExitCode> {
    let tables = std::sync::Arc::new(args.codes.load()?);
    let ctx = ValidationContext::at(args.now.unwrap_or_else(Utc::now))
        .in_environment(args.environment)
        .with_codes(tables);
    let consolidation = consolidation_context(&args)?;
    let mut results = Vec::new();
    for file in &args.files {
        let outcome = match crate::input::read_document(file) {
            Err(e) => Outcome::Unusable(format!("cannot read: {e}")),
            Ok(bytes) => match crate::convert::parse_any(&bytes) {
                Err(e) => Outcome::Unusable(format!("{e:#}")),
                Ok(doc) => {
                    // A consolidated document (a line classified 004) also meets the
                    // consolidation rules; any other document has none to meet.
                    let mut findings = validate(&doc, &ctx).findings;
                    findings.extend(consolidation::check(&doc, &consolidation));
                    Outcome::Checked(findings)
                }
            },
        };
        results.push((file, outcome));
    }
    if args.json {
        let out: Vec<serde_json::Value> = results.iter().map(|(f, o)| json_result(f, o)).collect();
        outln!("{}", serde_json::to_string_pretty(&out)?)?;
    } else {
        for (file, outcome) in &results {
            print_result(file, outcome)?;
        }
    }
    let unusable = results
        .iter()
        .any(|(_, o)| matches!(o, Outcome::Unusable(_)));
    let invalid = results.iter().any(|(_, o)| matches!(o, Outcome::Checked(f) if f.iter().any(|f| f.severity == Severity::Error)));
    Ok(ExitCode::from(if unusable {
        2
    } else if invalid {
        1
    } else {
        0
    }))
}

fn print_result(file: &std::path::Path, outcome: &Outcome) -> std::io::Result<()> {
    match outcome {
        Outcome::Unusable(e) => outln!("{}: unusable: {e}", file.display())?,
        Outcome::Checked(findings) => {
            let count = |s| findings.iter().filter(|f| f.severity == s).count();
            let (e, w, i) = (
                count(Severity::Error),
                count(Severity::Warning),
                count(Severity::Info),
            );
            let verdict = if e == 0 { "valid" } else { "INVALID" };
            outln!(
                "{}: {verdict} ({e} errors, {w} warnings, {i} notes)",
                file.display()
            )?;
            for f in findings {
                outln!(
                    "  {:<7} {:<6} [{}] {}",
                    f.severity,
                    f.code,
                    f.category,
                    f.rule
                )?;
                if let Some(message) = &f.lhdn_message {
                    outln!(
                        "          LHDN {}: {message}",
                        f.lhdn_code.unwrap_or("(null code)")
                    )?;
                }
                outln!("          at {}  ({})", f.xpath, f.json_path)?;
                if let Some(v) = &f.value {
                    outln!("          value: {v:?}")?;
                }
            }
        }
    }
    Ok(())
}

fn json_result(file: &std::path::Path, outcome: &Outcome) -> serde_json::Value {
    match outcome {
        Outcome::Unusable(e) => {
            serde_json::json!({"file": file.display().to_string(), "usable": false, "valid": false, "error": e})
        }
        Outcome::Checked(findings) => serde_json::json!({
            "file": file.display().to_string(),
            "usable": true,
            "valid": !findings.iter().any(|f| f.severity == Severity::Error),
            "findings": findings.iter().map(|f| serde_json::json!({
                "code": f.code,
                "category": f.category.to_string(),
                "severity": f.severity.to_string(),
                "jsonPath": f.json_path,
                "xpath": f.xpath,
                "rule": f.rule,
                "value": f.value,
                "lhdnCode": f.lhdn_code,
                "lhdnMessage": f.lhdn_message,
            })).collect::<Vec<_>>(),
        }),
    }
}
