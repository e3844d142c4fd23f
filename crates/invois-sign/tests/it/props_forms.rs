//! Item 4 of issue 17: an XML PropsDigest is accepted in every form MyInvois is reported to
//! accept (README §9.3), each written by hand in `invois_testkit::props_forms` on the
//! project's signed fixtures: the klsheng SDK's string (declarations after the attributes,
//! which is not exclusive C14N) and the form LHDN's own samples were signed in. A digest over
//! any other writing of the block is "not verifiable", naming the forms tried (MyInvois may
//! accept a form nobody has reported, so it is not DS320). LHDN's samples themselves are
//! checked in `official_xml`.

use invois_sign::{CheckKind, CheckStatus, Format, verify};
use invois_testkit::props_forms::{PropsForm, with_props_digest};
use invois_testkit::{Corpus, Version};

/// Every signed XML fixture (1.1 and 1.3), as text.
fn signed_xml_fixtures() -> Vec<(String, String)> {
    let fixtures = Corpus::fixtures();
    [Version::V1_1, Version::V1_3]
        .into_iter()
        .flat_map(|version| {
            crate::common::list(
                &crate::common::version_dir(&fixtures, version),
                Format::Xml,
                "fixtures",
            )
        })
        .map(|(name, bytes)| (name, String::from_utf8(bytes).expect("UTF-8")))
        .collect()
}

fn props_detail(v: &invois_sign::Verification) -> &str {
    &v.checks
        .iter()
        .find(|c| c.kind == CheckKind::SignedPropertiesDigest)
        .expect("the props check ran")
        .detail
}

#[test]
fn the_klsheng_and_lhdn_forms_verify_on_every_fixture() {
    let fixtures = signed_xml_fixtures();
    assert_eq!(fixtures.len(), 19);
    for (name, signed) in fixtures {
        for (form, label) in [
            (PropsForm::Klsheng, "as the klsheng SDK writes it"),
            (PropsForm::LhdnSamples, "as LHDN's samples were signed"),
        ] {
            let doc = with_props_digest(&signed, form);
            // The fixtures are signed by invois, in the samples' form; klsheng's differs.
            if matches!(form, PropsForm::Klsheng) {
                assert_ne!(doc, signed, "{name}: {form:?} is not invois's own form");
            } else {
                assert_eq!(doc, signed, "{name}: {form:?} is invois's own form");
            }
            let v = verify(doc.as_bytes(), None, None);
            assert_eq!(
                v.status(CheckKind::SignedPropertiesDigest),
                Some(CheckStatus::Passed),
                "{name}: {form:?}: {:#?}",
                v.findings
            );
            assert!(
                props_detail(&v).contains(label),
                "{name}: {}",
                props_detail(&v)
            );
            assert_eq!(v.codes(), Vec::<&str>::new(), "{name}: {form:?}");
        }
    }
}

/// `invois sign` hashes the signed properties in the form LHDN's own samples were signed in:
/// the testkit's independent writing of that form gives the digest invois wrote, on every
/// document signed now.
#[test]
fn invois_signs_in_the_form_lhdns_samples_were_signed_in() {
    let signer = crate::common::issued().signer().unwrap();
    let mut n = 0;
    for version in [Version::V1_1, Version::V1_3] {
        for (name, doc) in crate::common::to_sign(version, Format::Xml) {
            let signed = invois_sign::sign_xml(&doc, &signer, chrono::Utc::now()).unwrap();
            let signed = String::from_utf8(signed).unwrap();
            assert_eq!(
                with_props_digest(&signed, PropsForm::LhdnSamples),
                signed,
                "{name}"
            );
            assert_ne!(
                with_props_digest(&signed, PropsForm::Klsheng),
                signed,
                "{name}"
            );
            let v = verify(signed.as_bytes(), None, None);
            assert!(
                props_detail(&v).contains("as LHDN's samples were signed"),
                "{name}: {}",
                props_detail(&v)
            );
            n += 1;
        }
    }
    assert!(n >= 16, "{n}");
}

#[test]
fn a_digest_over_any_other_form_is_not_verifiable_naming_the_forms_tried() {
    for (name, signed) in signed_xml_fixtures() {
        let doc = with_props_digest(&signed, PropsForm::Indented);
        let v = verify(doc.as_bytes(), None, None);
        assert_eq!(v.codes(), Vec::<&str>::new(), "{name}: {:#?}", v.findings);
        assert!(v.is_valid(), "{name}");
        assert_eq!(
            v.status(CheckKind::SignedPropertiesDigest),
            Some(CheckStatus::NotChecked),
            "{name}"
        );
        assert_eq!(v.notes.len(), 1, "{name}: {:?}", v.notes);
        let message = props_detail(&v);
        assert!(message.starts_with("not verifiable"), "{name}: {message}");
        for form in [
            "exclusive C14N of SignedProperties",
            "as the klsheng SDK writes it",
            "as LHDN's samples were signed",
            "inclusive C14N of QualifyingProperties",
        ] {
            assert!(message.contains(form), "{name}: {message}");
        }
    }
}

/// A document invois signed before it wrote the samples' form: its PropsDigest is over the
/// exclusive C14N of SignedProperties, and it still verifies (kept in `tests/data` from the
/// fixtures as they were signed then).
#[test]
fn a_document_invois_signed_in_exclusive_c14n_still_verifies() {
    let bytes = include_bytes!("../data/signed-exclusive-c14n-props.xml");
    let v = verify(bytes, None, None);
    assert_eq!(
        v.status(CheckKind::SignedPropertiesDigest),
        Some(CheckStatus::Passed),
        "{:#?}",
        v.findings
    );
    assert!(
        props_detail(&v).contains("exclusive C14N of SignedProperties"),
        "{}",
        props_detail(&v)
    );
    assert_eq!(v.codes(), Vec::<&str>::new());
}
