//! Regenerates the embedded code tables (`crates/invois-model/data/codes/*.tsv`) from LHDN's 9
//! official JSON files. From the workspace root:
//!
//! ```text
//! cargo run -p invois-model --example generate-code-tables -- "$INVOIS_LHDN_SAMPLES/../codes"
//! ```
//!
//! An optional second argument writes elsewhere (the default is the committed folder). An
//! example rather than a binary, so installing invois ships no extra program.

use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    let mut args = std::env::args_os().skip(1);
    let Some(src) = args.next().map(PathBuf::from) else {
        eprintln!(
            "usage: generate-code-tables LHDN_CODES_DIR [DEST]\n  e.g. {}",
            invois_model::codes::REGENERATE_COMMAND
        );
        return ExitCode::from(2);
    };
    let dest = args
        .next()
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("data/codes"));
    match invois_model::codes::generate(&src, &dest) {
        Ok(done) => {
            for (table, n) in done {
                println!(
                    "{}: {n} codes -> {}",
                    table.name(),
                    dest.join(invois_model::codes::data_file_name(table))
                        .display()
                );
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
