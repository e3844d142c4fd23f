//! The 9 official tables as data the binary embeds: one generated TSV per table under
//! `crates/invois-model/data/codes/`, parsed once on first use.
//!
//! Regenerate them from LHDN's JSON files (from the workspace root):
//!
//! ```text
//! cargo run -p invois-model --example generate-code-tables -- "$INVOIS_LHDN_SAMPLES/../codes"
//! ```

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;
use std::sync::{Arc, LazyLock};

use super::{CodeTables, Table};
use crate::CodesError;

/// The command written at the top of every generated file.
pub const REGENERATE_COMMAND: &str =
    "cargo run -p invois-model --example generate-code-tables -- \"$INVOIS_LHDN_SAMPLES/../codes\"";

/// The name of a table's generated file (`msic.tsv`).
pub fn data_file_name(table: Table) -> String {
    format!("{}.tsv", table.name())
}

/// The committed data of a table. `include_str!` wants a literal path, hence the match.
fn embedded_text(table: Table) -> &'static str {
    match table {
        Table::DocumentTypes => include_str!("../../data/codes/types.tsv"),
        Table::TaxTypes => include_str!("../../data/codes/tax.tsv"),
        Table::States => include_str!("../../data/codes/states.tsv"),
        Table::PaymentModes => include_str!("../../data/codes/payment.tsv"),
        Table::Classifications => include_str!("../../data/codes/class.tsv"),
        Table::Msic => include_str!("../../data/codes/msic.tsv"),
        Table::Units => include_str!("../../data/codes/units.tsv"),
        Table::Countries => include_str!("../../data/codes/countries.tsv"),
        Table::Currencies => include_str!("../../data/codes/currencies.tsv"),
    }
}

/// Parsed on first use only: a command that never looks at a code does not pay for the 3,800
/// rows (most of them MSIC and units).
pub(super) static EMBEDDED: LazyLock<CodeTables> = LazyLock::new(|| {
    let mut tables = CodeTables::default();
    for table in Table::ALL {
        tables.insert_shared(table, Arc::new(parse_tsv(embedded_text(table))));
    }
    tables
});

/// Renders a table as its generated file: comment lines, then `code<TAB>description` sorted by
/// code. Codes and descriptions were checked when read (`CodeTables::parse_table`) to hold no
/// tab or line break, so the form needs no escaping.
pub fn render_tsv(table: Table, rows: &BTreeMap<String, String>) -> String {
    let mut out = format!(
        "# LHDN MyInvois code table `{}` ({}): code<TAB>description, sorted by code.\n\
         # Generated, do not edit. Regenerate from the workspace root with:\n\
         #   {REGENERATE_COMMAND}\n",
        table.name(),
        table.file_name(),
    );
    for (code, description) in rows {
        // Writing to a String cannot fail.
        let _ = writeln!(out, "{code}\t{description}");
    }
    out
}

/// Reads a generated file. Infallible on purpose: the text is compiled in, so a malformed line
/// is a bug the tests catch (row counts, byte-for-byte regeneration), not an input error.
fn parse_tsv(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .map(|line| {
            let (code, description) = line.split_once('\t').unwrap_or((line, ""));
            (code.to_owned(), description.to_owned())
        })
        .collect()
}

/// Reads LHDN's 9 JSON files in `src` and writes one generated file per table into `dest`
/// (created if needed). Every file must be present, so a partial download cannot silently
/// drop a table from the committed data. Returns the tables written with their row counts.
pub fn generate(src: &Path, dest: &Path) -> Result<Vec<(Table, usize)>, CodesError> {
    let io = |path: &Path, source| CodesError::Io {
        path: path.display().to_string(),
        source,
    };
    let mut rendered = Vec::new();
    for table in Table::ALL {
        let path = src.join(table.file_name());
        let bytes = std::fs::read(&path).map_err(|e| io(&path, e))?;
        let rows = super::load::parse_table(&bytes, &path.display().to_string())?;
        rendered.push((table, rows.len(), render_tsv(table, &rows)));
    }
    std::fs::create_dir_all(dest).map_err(|e| io(dest, e))?;
    let mut done = Vec::new();
    for (table, n, text) in rendered {
        let path = dest.join(data_file_name(table));
        std::fs::write(&path, text).map_err(|e| io(&path, e))?;
        done.push((table, n));
    }
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rendering_then_parsing_gives_the_rows_back() {
        let rows: BTreeMap<String, String> = [("B", "two words"), ("A", ""), ("C", "x")]
            .into_iter()
            .map(|(c, d)| (c.to_owned(), d.to_owned()))
            .collect();
        let text = render_tsv(Table::Units, &rows);
        assert!(text.contains(REGENERATE_COMMAND), "{text}");
        assert!(text.contains("A\t\nB\ttwo words\nC\tx\n"), "{text}");
        assert_eq!(parse_tsv(&text), rows);
    }

    #[test]
    fn every_embedded_file_starts_with_how_to_regenerate_it() {
        for table in Table::ALL {
            let text = embedded_text(table);
            assert!(
                text.starts_with("# LHDN MyInvois code table") && text.contains(REGENERATE_COMMAND),
                "{}",
                table.name()
            );
        }
    }
}
