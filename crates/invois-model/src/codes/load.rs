//! The only file access of this crate: reading (and importing into) a code directory given as a
//! path, and generating the embedded data from LHDN's files (`generate`). No network.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use serde_json::Value;

use super::{CodeTables, Table};
use crate::CodesError;

/// Replaces, table by table, the tables of `tables` whose official file is in `dir`. Returns
/// the tables replaced, in [`Table::ALL`] order; a missing file (or directory) replaces nothing.
pub(super) fn overlay_dir(tables: &mut CodeTables, dir: &Path) -> Result<Vec<Table>, CodesError> {
    let mut read = Vec::new();
    for table in Table::ALL {
        let path = dir.join(table.file_name());
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            // A missing file keeps the table already there (the embedded one).
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(source) => {
                return Err(CodesError::Io {
                    path: path.display().to_string(),
                    source,
                });
            }
        };
        read.push((table, parse_table(&bytes, &path.display().to_string())?));
    }
    // Only once every file parsed: a broken file leaves `tables` as it was.
    let mut replaced = Vec::new();
    for (table, rows) in read {
        tables.insert_shared(table, Arc::new(rows));
        replaced.push(table);
    }
    Ok(replaced)
}

/// An official code table: a JSON array of objects with `Code` and one description key
/// (`Description`, `Name`, `Country`, `Currency`, ...). Runs of white space in a description
/// (trailing spaces, and the line breaks and tabs of two unit names) become one space, so a
/// table read from a directory equals the embedded one generated from the same file.
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
        // The generated data is one `code<TAB>description` line per row with `#` comments:
        // a code that could break that form is refused rather than escaped.
        if code.is_empty()
            || code.starts_with('#')
            || code.chars().any(|c| c.is_whitespace() || c.is_control())
        {
            return Err(format(&format!("row {i} has an unusable code `{code}`")));
        }
        let description = obj
            .iter()
            .find(|(k, v)| *k != "Code" && *k != "MSIC Category Reference" && v.is_string())
            .and_then(|(_, v)| v.as_str())
            .unwrap_or("")
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ");
        // Duplicates exist in the official MSIC file (16211 twice); the first wins.
        out.entry(code.clone()).or_insert(description);
    }
    if out.is_empty() {
        return Err(format("the table is empty"));
    }
    Ok(out)
}

/// Checks the official code-table files in `src` and copies the valid ones into `dest` (created
/// if needed). Returns the tables imported with their row counts; other files are ignored.
pub fn import_dir(src: &Path, dest: &Path) -> Result<Vec<(Table, usize)>, CodesError> {
    let io = |path: &Path, source| CodesError::Io {
        path: path.display().to_string(),
        source,
    };
    let mut staged = Vec::new();
    for table in Table::ALL {
        let file = table.file_name();
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
        let files: Vec<_> = Table::ALL.iter().map(|t| t.file_name()).collect();
        return Err(CodesError::Format {
            path: src.display().to_string(),
            message: format!(
                "no code-table file found (expected any of {})",
                files.join(", ")
            ),
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
