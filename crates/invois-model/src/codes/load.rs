//! The only file access of this crate: reading (and importing into) a code directory given as a
//! path. No network.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::Value;

use super::{CodeTables, Table};
use crate::CodesError;

/// The files of the large tables a code directory holds.
pub const LARGE_TABLE_FILES: [(Table, &str); 4] = [
    (Table::Msic, "MSICSubCategoryCodes.json"),
    (Table::Units, "UnitTypes.json"),
    (Table::Countries, "CountryCodes.json"),
    (Table::Currencies, "CurrencyCodes.json"),
];

pub(super) fn load_dir(dir: &Path) -> Result<CodeTables, CodesError> {
    let mut tables = CodeTables::empty();
    for (table, file) in LARGE_TABLE_FILES {
        let path = dir.join(file);
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            // A missing file means the table is not loaded, which validation reports.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(source) => {
                return Err(CodesError::Io {
                    path: path.display().to_string(),
                    source,
                });
            }
        };
        tables.insert(table, parse_table(&bytes, &path.display().to_string())?);
    }
    Ok(tables)
}

/// An official code table: a JSON array of objects with `Code` and one description key
/// (`Description`, `Name`, `Country`, `Currency`, ...).
pub(super) fn parse_table(
    bytes: &[u8],
    origin: &str,
) -> Result<BTreeMap<String, String>, CodesError> {
    let format = |message: &str| CodesError::Format {
        path: origin.to_owned(),
        message: message.to_owned(),
    };
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let value: Value =
        serde_json::from_slice(bytes).map_err(|e| format(&format!("not JSON: {e}")))?;
    let Value::Array(rows) = value else {
        return Err(format("expected a JSON array of code objects"));
    };
    let mut out = BTreeMap::new();
    for (i, row) in rows.iter().enumerate() {
        let Value::Object(obj) = row else {
            return Err(format(&format!("row {i} is not an object")));
        };
        let Some(Value::String(code)) = obj.get("Code") else {
            return Err(format(&format!("row {i} has no string `Code`")));
        };
        let description = obj
            .iter()
            .find(|(k, v)| *k != "Code" && *k != "MSIC Category Reference" && v.is_string())
            .and_then(|(_, v)| v.as_str())
            .unwrap_or("")
            .trim()
            .to_owned();
        // Duplicates exist in the official MSIC file (16211 twice); the first wins.
        out.entry(code.clone()).or_insert(description);
    }
    if out.is_empty() {
        return Err(format("the table is empty"));
    }
    Ok(out)
}

/// Checks the large-table files in `src` and copies the valid ones into `dest` (created if
/// needed). Returns the tables imported with their row counts; files of small tables and other
/// files are ignored (small tables are built in).
pub fn import_dir(src: &Path, dest: &Path) -> Result<Vec<(Table, usize)>, CodesError> {
    let io = |path: &Path, source| CodesError::Io {
        path: path.display().to_string(),
        source,
    };
    let mut staged = Vec::new();
    for (table, file) in LARGE_TABLE_FILES {
        let path = src.join(file);
        match std::fs::read(&path) {
            Ok(bytes) => {
                let rows = parse_table(&bytes, &path.display().to_string())?;
                staged.push((table, file, bytes, rows.len()));
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io(&path, e)),
        }
    }
    if staged.is_empty() {
        return Err(CodesError::Format {
            path: src.display().to_string(),
            message: "no code-table file found (expected MSICSubCategoryCodes.json, UnitTypes.json, CountryCodes.json or CurrencyCodes.json)".to_owned(),
        });
    }
    std::fs::create_dir_all(dest).map_err(|e| io(dest, e))?;
    let mut done = Vec::new();
    for (table, file, bytes, n) in staged {
        let target = dest.join(file);
        // Write then rename, so a reader never sees half a table.
        let tmp = dest.join(format!(".{file}.tmp"));
        std::fs::write(&tmp, &bytes).map_err(|e| io(&tmp, e))?;
        std::fs::rename(&tmp, &target).map_err(|e| io(&target, e))?;
        done.push((table, n));
    }
    Ok(done)
}
