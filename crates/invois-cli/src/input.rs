//! Reading a document file with a bound, so that a file far over MyInvois's limits is
//! refused after reading little more than the limit, never loaded whole (a 37 MB file once
//! took 1 GB and seven seconds to be refused).

use std::io::Read as _;
use std::path::Path;

use invois_api::submission::MAX_DOCUMENT_BYTES;

/// The most bytes read from a document file: MyInvois's 300 KB per document (a limit on the
/// minified document), plus as much again for the indentation and line breaks of a
/// pretty-printed file, which minifying removes.
pub(crate) const READ_LIMIT: usize = 2 * MAX_DOCUMENT_BYTES;

/// The file's bytes, or an error that names the limit when the file is larger than
/// [`READ_LIMIT`]. Reads at most `READ_LIMIT + 1` bytes whatever the file's size.
pub(crate) fn read_document(path: &Path) -> std::io::Result<Vec<u8>> {
    let file = std::fs::File::open(path)?;
    let mut bytes = Vec::new();
    file.take(READ_LIMIT as u64 + 1).read_to_end(&mut bytes)?;
    if bytes.len() > READ_LIMIT {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!(
                "larger than {READ_LIMIT} bytes: MyInvois takes documents of at most \
                 {MAX_DOCUMENT_BYTES} bytes (300 KB) once minified, so it was not read further"
            ),
        ));
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_up_to_the_limit_and_refuses_beyond_it() {
        let dir = tempfile::tempdir().unwrap();
        let ok = dir.path().join("ok.json");
        std::fs::write(&ok, vec![b' '; READ_LIMIT]).unwrap();
        assert_eq!(read_document(&ok).unwrap().len(), READ_LIMIT);
        // A sparse 1 GB file: refused at once, having read one byte over the limit.
        let huge = dir.path().join("huge.json");
        std::fs::File::create(&huge)
            .unwrap()
            .set_len(1 << 30)
            .unwrap();
        let err = read_document(&huge).unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::InvalidData);
        assert!(err.to_string().contains("300 KB"), "{err}");
    }
}
