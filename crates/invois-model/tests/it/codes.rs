//! Code tables: the 9 official tables are embedded (generated from LHDN's files, checked byte
//! for byte when `INVOIS_LHDN_SAMPLES` is set); a code directory overrides them table by table.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use invois_model::codes::{self, Table};
use invois_model::{CodeTables, CodesError};

/// The committed generated data.
fn data_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("data/codes")
}

/// Writes an official-shaped (LHDN JSON) table file into `dir`.
fn write_table(dir: &Path, table: Table, key: &str, rows: &[(&str, &str)]) {
    let rows: Vec<serde_json::Value> = rows
        .iter()
        .map(|(code, description)| serde_json::json!({ "Code": code, key: description }))
        .collect();
    std::fs::write(
        dir.join(table.file_name()),
        serde_json::to_vec_pretty(&rows).unwrap(),
    )
    .unwrap();
}

#[test]
fn embedded_tables_hold_known_codes_and_the_generated_counts() {
    let tables = CodeTables::embedded();
    let expected = [
        (Table::DocumentTypes, 8),
        (Table::TaxTypes, 7),
        (Table::States, 17),
        (Table::PaymentModes, 8),
        (Table::Classifications, 45),
        // 1175 rows in LHDN's file, 16211 twice.
        (Table::Msic, 1174),
        (Table::Units, 2162),
        (Table::Countries, 253),
        (Table::Currencies, 180),
    ];
    for (table, n) in expected {
        assert_eq!(tables.count(table), Some(n), "{}", table.name());
        // The committed file says the same: one line per code besides `#` comments.
        let text = std::fs::read_to_string(data_dir().join(codes::data_file_name(table))).unwrap();
        let lines = text.lines().filter(|l| !l.starts_with('#')).count();
        assert_eq!(lines, n, "{}", table.name());
    }
    assert_eq!(tables.contains(Table::Msic, "46510"), Some(true));
    assert_eq!(tables.contains(Table::Msic, "99999"), Some(false));
    assert_eq!(tables.get(Table::Units, "C62"), Some("one"));
    assert_eq!(tables.contains(Table::Units, "HAR"), Some(true));
    assert_eq!(tables.get(Table::Countries, "MYS"), Some("MALAYSIA"));
    assert_eq!(
        tables.get(Table::Currencies, "MYR"),
        Some("Malaysian Ringgit")
    );
    assert_eq!(tables.contains(Table::Currencies, "CNH"), Some(true));
    assert_eq!(tables.contains(Table::States, "00"), Some(false));
    assert_eq!(tables.contains(Table::TaxTypes, "E"), Some(true));
    // White space inside LHDN's descriptions (a line break and tabs here) is one space.
    assert_eq!(
        tables.get(Table::Units, "A20"),
        Some("British thermal unit (international table) per second square foot degree Rankine")
    );
}

#[test]
fn regenerating_from_lhdn_files_gives_the_committed_data() {
    let Some(samples) = std::env::var_os("INVOIS_LHDN_SAMPLES") else {
        println!("skipped: INVOIS_LHDN_SAMPLES not set");
        return;
    };
    let src = PathBuf::from(samples).join("../codes");
    let out = tempfile::tempdir().unwrap();
    let done = codes::generate(&src, out.path()).unwrap();
    assert_eq!(done.len(), 9);
    for table in Table::ALL {
        let name = codes::data_file_name(table);
        let fresh = std::fs::read(out.path().join(&name)).unwrap();
        let committed = std::fs::read(data_dir().join(&name)).unwrap();
        assert!(
            fresh == committed,
            "{name} differs from LHDN's {}: run `{}`",
            table.file_name(),
            codes::REGENERATE_COMMAND
        );
    }
}

#[test]
fn a_directory_table_overrides_the_embedded_one() {
    let dir = tempfile::tempdir().unwrap();
    write_table(
        dir.path(),
        Table::Countries,
        "Country",
        &[("MYS", "MALAYSIA"), ("XXA", "  NEWLAND \n ")],
    );
    let mut tables = CodeTables::embedded();
    assert_eq!(tables.overlay_dir(dir.path()).unwrap(), [Table::Countries]);
    assert_eq!(tables.count(Table::Countries), Some(2));
    assert_eq!(tables.get(Table::Countries, "XXA"), Some("NEWLAND"));
    assert_eq!(tables.contains(Table::Countries, "SGP"), Some(false));
    // The other tables stay the embedded ones.
    assert_eq!(tables.contains(Table::Msic, "46510"), Some(true));
    assert_eq!(tables.count(Table::Units), Some(2162));
    assert_eq!(CodeTables::load_dir(dir.path()).unwrap(), tables);
}

#[test]
fn import_then_load_writes_the_official_files() {
    let src = tempfile::tempdir().unwrap();
    write_table(
        src.path(),
        Table::Units,
        "Name",
        &[("C62", "one"), ("ZZZ", "new unit")],
    );
    write_table(src.path(), Table::States, "State", &[("01", "Johor")]);
    // A byte order mark is tolerated (some downloads carry one).
    let mut bom = b"\xEF\xBB\xBF".to_vec();
    bom.extend(br#"[{"Code":"MYR","Currency":"Malaysian Ringgit"}]"#);
    std::fs::write(src.path().join(Table::Currencies.file_name()), bom).unwrap();
    std::fs::write(src.path().join("notes.txt"), "ignored").unwrap();

    let dest = tempfile::tempdir().unwrap();
    let dest = dest.path().join("created");
    let imported = codes::import_dir(src.path(), &dest).unwrap();
    assert_eq!(
        imported,
        [
            (Table::States, 1),
            (Table::Units, 2),
            (Table::Currencies, 1)
        ]
    );
    assert!(!dest.join("notes.txt").exists());
    let tables = CodeTables::load_dir(&dest).unwrap();
    assert_eq!(tables.contains(Table::Units, "ZZZ"), Some(true));
    assert_eq!(tables.contains(Table::States, "02"), Some(false));
    assert_eq!(tables.contains(Table::Currencies, "USD"), Some(false));
    assert_eq!(
        tables.count(Table::Countries),
        Some(253),
        "not imported: embedded"
    );
}

#[test]
fn an_empty_or_missing_directory_keeps_the_embedded_tables() {
    let dir = tempfile::tempdir().unwrap();
    let mut tables = CodeTables::embedded();
    assert!(tables.overlay_dir(dir.path()).unwrap().is_empty());
    assert!(
        tables
            .overlay_dir(&dir.path().join("missing"))
            .unwrap()
            .is_empty()
    );
    assert_eq!(tables, CodeTables::embedded());
    assert!(matches!(
        codes::import_dir(dir.path(), dir.path()),
        Err(CodesError::Format { .. })
    ));
}

#[test]
fn a_broken_directory_file_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    write_table(
        dir.path(),
        Table::Countries,
        "Country",
        &[("XXA", "NEWLAND")],
    );
    std::fs::write(dir.path().join(Table::Msic.file_name()), "[]").unwrap();
    let mut tables = CodeTables::embedded();
    let err = tables.overlay_dir(dir.path()).unwrap_err();
    assert!(
        err.to_string().contains("MSICSubCategoryCodes.json"),
        "{err}"
    );
    assert_eq!(tables, CodeTables::embedded());
}

#[test]
fn a_code_that_would_break_the_generated_form_is_refused() {
    for code in ["", "#1", "A B", "A\tB"] {
        let json = serde_json::json!([{ "Code": code, "Name": "x" }]).to_string();
        let err = CodeTables::parse_table(json.as_bytes(), "UnitTypes.json").unwrap_err();
        assert!(matches!(err, CodesError::Format { .. }), "{code:?}: {err}");
    }
    let rows: BTreeMap<String, String> =
        CodeTables::parse_table(br#"[{"Code":"A","Name":" a\n\t b "}]"#, "x").unwrap();
    assert_eq!(rows["A"], "a b");
}

#[test]
fn a_broken_file_is_refused_and_nothing_is_imported() {
    let src = tempfile::tempdir().unwrap();
    std::fs::write(
        src.path().join("CountryCodes.json"),
        "[{\"Code\":\"MYS\",\"Country\":\"MALAYSIA\"}]",
    )
    .unwrap();
    std::fs::write(src.path().join("UnitTypes.json"), "{\"not\":\"an array\"}").unwrap();
    let dest = tempfile::tempdir().unwrap();
    let err = codes::import_dir(src.path(), dest.path()).unwrap_err();
    assert!(err.to_string().contains("UnitTypes.json"), "{err}");
    assert!(!dest.path().join("CountryCodes.json").exists());
}

#[test]
fn search_by_code_or_description() {
    let tables = CodeTables::embedded();
    let hits = tables.search(Table::Countries, Some("malay")).unwrap();
    assert_eq!(hits, [("MYS".to_owned(), "MALAYSIA".to_owned())]);
    let hits = tables.search(Table::States, Some("putrajaya")).unwrap();
    assert_eq!(
        hits,
        [("16".to_owned(), "Wilayah Persekutuan Putrajaya".to_owned())]
    );
    assert_eq!(tables.search(Table::PaymentModes, None).unwrap().len(), 8);
    assert_eq!("msic".parse::<Table>().unwrap(), Table::Msic);
    assert!("nope".parse::<Table>().is_err());
}
