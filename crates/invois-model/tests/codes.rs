//! Code tables: the built-in small tables equal the official files; the large ones import from
//! the official files and are searchable.

mod common;

use invois_model::codes::{self, Table};
use invois_model::{CodeTables, CodesError};

#[test]
fn builtin_small_tables_equal_the_official_files() {
    for table in Table::ALL.into_iter().filter(|t| !t.is_large()) {
        let path = common::codes_dir().join(table.file_name());
        let official =
            CodeTables::parse_table(&common::read(&path), &path.display().to_string()).unwrap();
        let builtin: std::collections::BTreeMap<String, String> = table
            .builtin()
            .into_iter()
            .map(|(c, d)| (c.to_owned(), d.to_owned()))
            .collect();
        assert_eq!(builtin, official, "{}", table.name());
    }
}

#[test]
fn import_then_load_the_large_tables() {
    let dest = tempfile::tempdir().unwrap();
    let imported = codes::import_dir(&common::codes_dir(), dest.path()).unwrap();
    assert_eq!(
        imported,
        [
            (Table::Msic, 1174),
            (Table::Units, 2162),
            (Table::Countries, 253),
            (Table::Currencies, 180)
        ]
    );
    let tables = CodeTables::load_dir(dest.path()).unwrap();
    for t in Table::ALL {
        assert!(tables.is_loaded(t), "{}", t.name());
    }
    assert_eq!(tables.contains(Table::Msic, "46510"), Some(true));
    assert_eq!(tables.contains(Table::Msic, "99999"), Some(false));
    assert_eq!(tables.contains(Table::Units, "HAR"), Some(true));
    assert_eq!(tables.contains(Table::Countries, "MYS"), Some(true));
    assert_eq!(tables.contains(Table::Currencies, "CNH"), Some(true));
    assert_eq!(tables.contains(Table::States, "00"), Some(false));
    assert_eq!(tables.contains(Table::TaxTypes, "E"), Some(true));
}

#[test]
fn an_empty_directory_loads_nothing_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let tables = CodeTables::load_dir(dir.path()).unwrap();
    assert!(!tables.is_loaded(Table::Msic));
    assert!(tables.is_loaded(Table::States));
    assert_eq!(tables.contains(Table::Msic, "46510"), None);
    assert_eq!(tables.search(Table::Units, None), None);
    assert!(matches!(
        codes::import_dir(dir.path(), dir.path()),
        Err(CodesError::Format { .. })
    ));
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
    let dest = tempfile::tempdir().unwrap();
    codes::import_dir(&common::codes_dir(), dest.path()).unwrap();
    let tables = CodeTables::load_dir(dest.path()).unwrap();
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
