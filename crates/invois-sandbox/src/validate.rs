//! Asynchronous validation (README §7): after the configured delay on the sandbox clock, each
//! accepted document goes through the [`Validator`]s in order and ends `Valid` or `Invalid`,
//! with one validation step per validator in the documented shape.
//!
//! Step names follow the numbering seen in real responses where one is known
//! (`Step03-Duplicated Submission Validator` with `Error03` from the official error example,
//! `Step08-Document Signature Validator`); the others are the sandbox's own numbering, in the
//! order of LHDN's published validator list. The structure step (Step01) runs synchronously
//! at submission and is recorded as passed for every accepted document.
//!
//! The list is pluggable: [`crate::SandboxConfig::validators`] takes any `Validator`. Each
//! document is parsed once with `invois-model` and validated once (with the configured code
//! tables, the sandbox clock and the environment of its profile, which decide the dated
//! rules in force). Each step reports the findings of the LHDN validator it stands for
//! ([`Finding::validator`]), adding what only the server knows (registered taxpayers, earlier
//! documents); the signature step runs `invois-sign` against the configured trust store.
//!
//! An inner error carries LHDN's published code and text, placeholders filled, where LHDN
//! publishes one for the rule (`invois_api::validator_errors`), and invois's own code and
//! rule otherwise. A duplicate is `DV302`, not the `DS302` of LHDN's generic example: DS302
//! is also the signature validator's code for a signature count other than one, and the
//! Duplicate Document validator's own page gives DV302.

#![expect(
    clippy::result_large_err,
    reason = "a step error is the documented shape and is produced once per failed step"
)]

use std::sync::Arc;

use chrono::{DateTime, Utc};
use invois_api::documents::ValidationStep;
use invois_api::platform::notification_type;
use invois_api::validator_errors::{self as lhdn, Validator as Lhdn};
use invois_api::windows::DUPLICATE_DOCUMENT_WINDOW;
use invois_api::{DocumentStatus, StepError};
use invois_model::{Category, Document, Finding, Report, Severity};

use crate::fixtures::Fixtures;
use crate::store::{DocumentRecord, Store, random_id};
use crate::{Sandbox, SandboxConfig};

/// What a validator sees.
#[derive(Debug)]
pub struct ValidationInput<'a> {
    /// The document under validation.
    pub document: &'a DocumentRecord,
    /// The document as `invois-model` reads it.
    pub model: &'a Document,
    /// `invois-model`'s findings for it (every category, with the configured code tables,
    /// "now" being the time it was received), and those of its consolidation rules
    /// (`CON001`-`CON006`) when it is a consolidated e-invoice.
    pub report: &'a Report,
    /// The sandbox configuration (trust store, code tables, arithmetic switch).
    pub config: &'a SandboxConfig,
    /// Every stored document (for duplicate and reference checks).
    pub store: &'a Store,
    /// Taxpayers and intermediaries.
    pub fixtures: &'a Fixtures,
    /// The sandbox clock's time.
    pub now: DateTime<Utc>,
}

/// One validation step.
pub trait Validator: Send + Sync + 'static {
    /// The step's name, e.g. `Step08-Document Signature Validator`.
    fn name(&self) -> &str;

    /// `Ok` when the document passes; otherwise the step error (§3.4 shape 2).
    fn validate(&self, input: &ValidationInput<'_>) -> Result<(), StepError>;

    /// Whether the step runs for this document at all (a step that does not apply is not
    /// listed in the document's validation steps).
    fn applies(&self, _input: &ValidationInput<'_>) -> bool {
        true
    }

    /// Information attached to a *passed* step, in the error shape, for what the step could
    /// not check (e.g. code tables that are not loaded). It never fails the document.
    fn notes(&self, _input: &ValidationInput<'_>) -> Option<StepError> {
        None
    }
}

/// What an inner step error is about, which fills its `propertyName` and `propertyPath`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum About<'a> {
    /// Nothing in particular: both are `null`.
    Nothing,
    /// The document as a whole: `propertyName` `document` and no path, as in LHDN's own
    /// DS302 example (README §3.3).
    Document,
    /// One element or attribute, given by its XPath into the XML form
    /// (`/Invoice/cbc:IssueDate`): `propertyName` is its name and `propertyPath` MyInvois's
    /// dotted form of the XPath, the same for JSON and XML documents.
    Element(&'a str),
}

impl About<'_> {
    /// `(propertyName, propertyPath)`.
    fn property(self) -> (Option<String>, Option<String>) {
        match self {
            About::Nothing => (None, None),
            About::Document => (Some("document".to_owned()), None),
            About::Element(xpath) => {
                let last = xpath.rsplit('/').find(|s| *s != "text()").unwrap_or(xpath);
                let name = last.split('[').next().unwrap_or(last);
                let name = name.trim_start_matches('@');
                let name = name.rsplit(':').next().unwrap_or(name);
                (
                    Some(name.to_owned()),
                    Some(invois_api::property_path::from_xpath(xpath)),
                )
            }
        }
    }
}

/// One inner error per finding: LHDN's code and text where LHDN publishes the rule, else
/// invois's code and rule (with the offending value); and where it is ([`About::Element`]).
fn finding_error(f: &Finding) -> StepError {
    let (code, message) = match (&f.lhdn_message, &f.value) {
        (Some(text), _) => (f.lhdn_code.unwrap_or(f.code), text.clone()),
        (None, Some(v)) => (f.code, format!("{} (value: {v:?})", f.rule)),
        (None, None) => (f.code, f.rule.clone()),
    };
    let (property_name, property_path) = About::Element(&f.xpath).property();
    StepError {
        property_name,
        property_path,
        error_code: Some(code.to_owned()),
        error: Some(message.clone()),
        error_ms: Some(message),
        target: None,
        inner_error: None,
    }
}

/// A step error holding several findings.
fn findings_error<'a>(
    outer_code: &str,
    outer: &str,
    findings: impl Iterator<Item = &'a Finding>,
) -> Option<StepError> {
    inner_errors(outer_code, outer, findings.map(finding_error).collect())
}

/// A step error holding these inner errors, if there are any.
fn inner_errors(outer_code: &str, outer: &str, inner: Vec<StepError>) -> Option<StepError> {
    (!inner.is_empty()).then(|| StepError {
        property_name: None,
        property_path: None,
        error_code: Some(outer_code.to_owned()),
        error: Some(outer.to_owned()),
        error_ms: Some(outer.to_owned()),
        target: None,
        inner_error: Some(inner),
    })
}

/// A step error with one inner error about `about`.
pub fn step_error(
    outer_code: &str,
    outer: &str,
    inner_code: &str,
    about: About<'_>,
    message: String,
) -> StepError {
    StepError {
        property_name: None,
        property_path: None,
        error_code: Some(outer_code.to_owned()),
        error: Some(outer.to_owned()),
        error_ms: Some(outer.to_owned()),
        target: None,
        inner_error: Some(vec![inner_error(inner_code, about, message)]),
    }
}

/// One inner error about `about`. LHDN publishes no Malay texts, so `errorMs` repeats the
/// English one.
fn inner_error(code: &str, about: About<'_>, message: String) -> StepError {
    let (property_name, property_path) = about.property();
    StepError {
        property_name,
        property_path,
        error_code: Some(code.to_owned()),
        error: Some(message.clone()),
        error_ms: Some(message),
        target: None,
        inner_error: None,
    }
}

/// The report's errors that LHDN's `validator` reports.
fn reported_by<'a>(
    input: &'a ValidationInput<'_>,
    validator: Lhdn,
) -> impl Iterator<Item = &'a Finding> + 'a {
    input
        .report
        .errors()
        .filter(move |f| f.validator() == validator)
}

/// The XPath of a party's TIN: `AccountingSupplierParty` or `AccountingCustomerParty`.
fn tin_xpath(role: &str) -> String {
    format!("/Invoice/cac:{role}/cac:Party/cac:PartyIdentification/cbc:ID[@schemeID='TIN']")
}

/// Name of the synchronous structure step.
pub const STRUCTURE_STEP: &str = "Step01-Structure Validator";

/// `invois-model`'s Core Fields rules (mandatory fields and their forms), the consolidation
/// rules' errors (`CON001`, `CON002`, `CON004`) for a consolidated e-invoice, and its
/// Arithmetic rules when [`SandboxConfig::check_arithmetic`] is on. Findings another validator reports
/// ([`Finding::validator`]: the issue-time window is the Taxpayer step's, a missing
/// signature the Signature step's) are not repeated here.
#[derive(Debug, Default)]
pub struct CoreFieldsValidator;

impl Validator for CoreFieldsValidator {
    fn name(&self) -> &str {
        "Step02-Core Fields Validator"
    }

    fn validate(&self, input: &ValidationInput<'_>) -> Result<(), StepError> {
        let arithmetic = input.config.check_arithmetic;
        let findings = reported_by(input, Lhdn::CoreFields)
            .filter(|f| arithmetic || f.category != Category::Arithmetic);
        match findings_error("Error02", "Core Fields Validator", findings) {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}

/// `invois-model`'s Codes rules: every code in its table (small tables are built in; the
/// large ones - currencies, countries, units, MSIC - when [`SandboxConfig::codes`] holds
/// them). A table that is not loaded is reported as a note on the passed step, not a failure.
#[derive(Debug, Default)]
pub struct CodesValidator;

impl Validator for CodesValidator {
    fn name(&self) -> &str {
        "Step06-Code Validator"
    }

    fn validate(&self, input: &ValidationInput<'_>) -> Result<(), StepError> {
        let findings = reported_by(input, Lhdn::Code);
        match findings_error("Error06", "Code Validator", findings) {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    fn notes(&self, input: &ValidationInput<'_>) -> Option<StepError> {
        findings_error(
            "Info06",
            "Code Validator: some code tables are not loaded, their codes were checked for form only",
            input
                .report
                .in_category(Category::Codes)
                .filter(|f| f.severity == Severity::Info),
        )
    }
}

/// The document signature (versions 1.1 and 1.3 only), verified by `invois-sign` against
/// [`SandboxConfig::trust`]: digests, signature value, certificate, chain of trust, and the
/// submitter identity - the certificate's TIN/BRN are the document issuer's, or, when an
/// intermediary submitted, the intermediary's (§9.4). Failures are DS codes inside `Error21`,
/// as MyInvois reports them (§3.4).
#[derive(Debug, Default)]
pub struct SignatureValidator;

impl Validator for SignatureValidator {
    fn name(&self) -> &str {
        invois_sign::SIGNATURE_STEP_NAME
    }

    fn applies(&self, input: &ValidationInput<'_>) -> bool {
        invois_model::codes::version_is_signed(&input.document.facts.version)
    }

    fn validate(&self, input: &ValidationInput<'_>) -> Result<(), StepError> {
        let doc = input.document;
        let format = doc.format;
        // By default the certificate must name the document issuer.
        let issuer_opts =
            invois_sign::VerifyOptions::default().with_trust(input.config.trust.clone());
        let verification = match &doc.submitter.intermediary_tin {
            None => invois_sign::verify_with(doc.raw.as_bytes(), Some(format), &issuer_opts),
            Some(tin) => {
                // An intermediary signs its clients' documents with its own certificate
                // (§9.4); one signed by the issuer itself is accepted too.
                let mut opts = issuer_opts.clone();
                opts.expected_tin = Some(tin.clone());
                opts.expected_brn = input
                    .fixtures
                    .intermediaries
                    .iter()
                    .find(|i| i.tin.eq_ignore_ascii_case(tin))
                    .and_then(|i| i.rob.clone());
                let own = invois_sign::verify_with(doc.raw.as_bytes(), Some(format), &opts);
                let identity_only = !own.findings.is_empty()
                    && own
                        .findings
                        .iter()
                        .all(|f| matches!(f.code, "DS311" | "DS312"));
                if identity_only {
                    let issuer =
                        invois_sign::verify_with(doc.raw.as_bytes(), Some(format), &issuer_opts);
                    if issuer.is_valid() { issuer } else { own }
                } else {
                    own
                }
            }
        };
        match verification.validation_step_error() {
            None => Ok(()),
            Some(value) => Err(serde_json::from_value(value).unwrap_or_else(|e| {
                step_error(
                    "Error21",
                    "Document Signature Validator",
                    "DS300",
                    About::Nothing,
                    format!("the signature check result could not be reported: {e}"),
                )
            })),
        }
    }
}

/// The same type, version, issue date-time, internal ID and issuer TIN as a valid document
/// received in the previous two hours (README §5).
#[derive(Debug, Default)]
pub struct DuplicateDocumentValidator;

impl Validator for DuplicateDocumentValidator {
    fn name(&self) -> &str {
        "Step03-Duplicated Submission Validator"
    }

    fn validate(&self, input: &ValidationInput<'_>) -> Result<(), StepError> {
        let doc = input.document;
        let key = |d: &DocumentRecord| {
            (
                d.facts.type_code.clone(),
                d.facts.version.clone(),
                d.facts.issued_at(),
                d.facts.internal_id.clone(),
                d.issuer_tin().to_owned(),
            )
        };
        let mine = key(doc);
        let window = DUPLICATE_DOCUMENT_WINDOW;
        let earlier = input
            .store
            .documents_with_internal_id(doc.issuer_tin(), &doc.facts.internal_id)
            .find(|d| {
                d.uuid != doc.uuid
                    && matches!(d.status, DocumentStatus::Valid)
                    && d.received <= doc.received
                    && doc.received - d.received <= window
                    && key(d) == mine
            });
        match earlier {
            Some(d) => {
                let published = lhdn::DUPLICATE_DOCUMENT;
                Err(step_error(
                    "Error03",
                    published.validator.name(),
                    published.code.unwrap_or_default(),
                    About::Document,
                    published.message(&[&doc.uuid, &d.uuid]),
                ))
            }
            None => Ok(()),
        }
    }
}

/// Issuer and receiver TINs are known taxpayers (or general TINs), and an NRIC or army number
/// given for a registered taxpayer is the one on file (ERR206); plus `invois-model`'s
/// findings the Taxpayer validator reports: the issue date-time within 72 hours before
/// submission and not in the future (CF010/CF011, read at the document's receipt), the
/// foreign-buyer TIN as supplier (ERR208).
#[derive(Debug, Default)]
pub struct TaxpayerValidator;

impl Validator for TaxpayerValidator {
    fn name(&self) -> &str {
        "Step04-Taxpayer Validator"
    }

    fn validate(&self, input: &ValidationInput<'_>) -> Result<(), StepError> {
        let doc = input.document;
        // The issuer is the supplier, or the buyer of a self-billed document.
        let (issuer_role, receiver_role) = if doc.facts.is_self_billed() {
            ("AccountingCustomerParty", "AccountingSupplierParty")
        } else {
            ("AccountingSupplierParty", "AccountingCustomerParty")
        };
        let mut inner = Vec::new();
        if !input.fixtures.tin_known(doc.issuer_tin()) {
            inner.push(inner_error(
                "TP001",
                About::Element(&tin_xpath(issuer_role)),
                format!(
                    "Issuer TIN {} is not a registered taxpayer",
                    doc.issuer_tin()
                ),
            ));
        }
        if let Some(receiver) = doc.receiver_tin()
            && !input.fixtures.tin_known(receiver)
        {
            inner.push(inner_error(
                "TP002",
                About::Element(&tin_xpath(receiver_role)),
                format!("Receiver TIN {receiver} is not a registered taxpayer"),
            ));
        }
        for role in ["AccountingSupplierParty", "AccountingCustomerParty"] {
            inner.extend(identity_mismatch(input, role));
        }
        inner.extend(reported_by(input, Lhdn::Taxpayer).map(finding_error));
        match inner_errors("Error04", Lhdn::Taxpayer.name(), inner) {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}

/// ERR206: the party's NRIC or army number is not the one LHDN's records (here, the fixture)
/// hold for its TIN. Only registered taxpayers are compared; an unknown TIN is TP001/TP002's.
fn identity_mismatch(input: &ValidationInput<'_>, role: &str) -> Option<StepError> {
    let supplier = role == "AccountingSupplierParty";
    let id_of = |scheme: &str| {
        if supplier {
            input.model.supplier_id(scheme)
        } else {
            input.model.buyer_id(scheme)
        }
    };
    let taxpayer = input.fixtures.taxpayer(id_of("TIN")?.trim())?;
    let (scheme, given) = ["NRIC", "ARMY"]
        .into_iter()
        .find_map(|scheme| Some((scheme, id_of(scheme)?.trim())))?;
    let on_file =
        taxpayer.id_type.as_str() == scheme && taxpayer.id_value.trim().eq_ignore_ascii_case(given);
    let xpath = format!(
        "/Invoice/cac:{role}/cac:Party/cac:PartyIdentification/cbc:ID[@schemeID='{scheme}']"
    );
    (!on_file).then(|| inner_error("ERR206", About::Element(&xpath), lhdn::ERR206.message(&[])))
}

/// Credit, debit and refund notes reference documents that exist, are valid, were issued by
/// the same issuer, and are of the matching kind (self-billed notes reference self-billed
/// invoices).
#[derive(Debug, Default)]
pub struct ReferencedDocumentsValidator;

impl Validator for ReferencedDocumentsValidator {
    fn name(&self) -> &str {
        "Step05-Referenced Documents Validator"
    }

    fn validate(&self, input: &ValidationInput<'_>) -> Result<(), StepError> {
        let doc = input.document;
        if !doc.facts.is_note() {
            return Ok(());
        }
        let fail = |code: &str, message: String| {
            Err(step_error(
                "Error05",
                "Referenced Documents Validator",
                code,
                About::Element(
                    "/Invoice/cac:BillingReference/cac:InvoiceDocumentReference/cbc:UUID",
                ),
                message,
            ))
        };
        for reference in &doc.facts.billing_references {
            let Some(uuid) = reference
                .uuid
                .as_deref()
                .filter(|u| !u.eq_ignore_ascii_case("NA"))
            else {
                continue;
            };
            let Some(original) = input.store.document(uuid) else {
                return fail(
                    "RD001",
                    format!("Referenced document {uuid} does not exist"),
                );
            };
            if original.status != DocumentStatus::Valid {
                return fail(
                    lhdn::DR303.code.unwrap_or_default(),
                    lhdn::DR303.message(&[uuid, original.status.as_str()]),
                );
            }
            if original.issuer_tin() != doc.issuer_tin() {
                return fail(
                    "RD003",
                    format!("Referenced document {uuid} was issued by another taxpayer"),
                );
            }
            if original.facts.is_self_billed() != doc.facts.is_self_billed() {
                return fail(
                    "RD004",
                    format!(
                        "Referenced document {uuid} is a {}; {} notes must reference {} invoices",
                        original.type_name(),
                        if doc.facts.is_self_billed() {
                            "self-billed"
                        } else {
                            "normal"
                        },
                        if doc.facts.is_self_billed() {
                            "self-billed"
                        } else {
                            "normal"
                        },
                    ),
                );
            }
        }
        Ok(())
    }
}

/// `invois-model`'s Currency rules: `TaxExchangeRate` for a document not in MYR (dated:
/// sandbox 9 Aug 2025, production 1 Sep 2025), its consistency, and every amount in the
/// document currency or, for tax amounts, the tax currency (DC502, DC501).
#[derive(Debug, Default)]
pub struct CurrencyValidator;

impl Validator for CurrencyValidator {
    fn name(&self) -> &str {
        "Step07-Currency Validator"
    }

    fn validate(&self, input: &ValidationInput<'_>) -> Result<(), StepError> {
        let findings = reported_by(input, Lhdn::Currency);
        match findings_error("Error07", Lhdn::Currency.name(), findings) {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}

/// The validators the sandbox runs by default, in order.
pub fn default_validators() -> Vec<Arc<dyn Validator>> {
    vec![
        Arc::new(CoreFieldsValidator),
        Arc::new(DuplicateDocumentValidator),
        Arc::new(TaxpayerValidator),
        Arc::new(ReferencedDocumentsValidator),
        Arc::new(CodesValidator),
        Arc::new(CurrencyValidator),
        Arc::new(SignatureValidator),
    ]
}

/// Waits the configured delay on the clock, then validates every document of a submission.
pub(crate) async fn run(sandbox: Sandbox, submission_uid: String, generation: u64) {
    let delay = sandbox.inner.config.validation_delay;
    sandbox.clock().sleep(delay).await;
    if sandbox.generation() != generation {
        // The state was reset meanwhile; this submission no longer exists.
        return;
    }
    // Validation is CPU work (parsing, every step, for up to 100 documents): on the blocking
    // pool, so the async workers keep answering other calls meanwhile.
    let _ =
        tokio::task::spawn_blocking(move || validate_submission(&sandbox, &submission_uid)).await;
}

fn validate_submission(sandbox: &Sandbox, submission_uid: &str) {
    let config: &SandboxConfig = &sandbox.inner.config;
    let fixtures = &sandbox.inner.fixtures;
    let Some(uuids) = sandbox
        .inner
        .store
        .lock()
        .submission(submission_uid)
        .map(|s| s.documents.clone())
    else {
        return;
    };
    for uuid in uuids {
        // The store is locked one document at a time, not for the whole submission: every
        // other call (Get Submission, other submissions) needs it too.
        validate_document(sandbox, config, fixtures, &uuid);
    }
}

/// Runs every validation step on one `Submitted` document now and records the outcome, with
/// its notifications. Returns the document's status afterwards (`None`: no such document).
/// Submissions come here after the validation delay; [`crate::Sandbox::issue_to`] at once.
pub(crate) fn validate_document(
    sandbox: &Sandbox,
    config: &SandboxConfig,
    fixtures: &Fixtures,
    uuid: &str,
) -> Option<DocumentStatus> {
    let mut store = sandbox.inner.store.lock();
    let now = sandbox.clock().now();
    let document = store.document(uuid)?;
    if document.status != DocumentStatus::Submitted {
        return Some(document.status);
    }
    let (steps, valid) = validation_steps(document, &store, config, fixtures, now);
    record_validation(&mut store, fixtures, uuid, steps, valid, now);
    store.document(uuid).map(|d| d.status)
}

/// The document's steps after validation (the ones it already has, then one per validator
/// that applies), and whether every step passed.
fn validation_steps(
    document: &DocumentRecord,
    store: &Store,
    config: &SandboxConfig,
    fixtures: &Fixtures,
    now: DateTime<Utc>,
) -> (Vec<ValidationStep>, bool) {
    let mut steps = document.steps.clone();
    let mut valid = true;
    // Accepted documents were read at submission; reading again cannot fail unless the
    // stored text changed, which fails the structure step rather than the server.
    match crate::facts::parse(document.format, document.raw.as_bytes()) {
        Err(e) => {
            valid = false;
            steps.push(ValidationStep {
                name: STRUCTURE_STEP.to_owned(),
                status: DocumentStatus::Invalid,
                error: Some(step_error(
                    "Error01",
                    "Structure Validator",
                    "S000",
                    About::Nothing,
                    e.to_string(),
                )),
            });
        }
        Ok(model) => {
            let context = config.validation_context(document.received);
            let mut report = invois_model::validate(&model, &context);
            // A consolidated e-invoice also meets the consolidation rules, with the same code
            // `invois validate` runs: read in the profile's environment, lifted inside the
            // relaxation period its issuer adopts (the fixture says which).
            let consolidation = invois_model::consolidation::ConsolidationContext {
                relaxation: fixtures
                    .taxpayer(document.issuer_tin())
                    .and_then(crate::fixtures::Taxpayer::relaxation),
                environment: context.environment,
            };
            report
                .findings
                .extend(invois_model::consolidation::check(&model, &consolidation));
            let input = ValidationInput {
                document,
                model: &model,
                report: &report,
                config,
                store,
                fixtures,
                now,
            };
            for validator in &config.validators {
                if !validator.applies(&input) {
                    continue;
                }
                let step = run_validator(validator.as_ref(), &input);
                valid &= step.status == DocumentStatus::Valid;
                steps.push(step);
            }
        }
    }
    (steps, valid)
}

/// One validator's step. A validator must never take the server down; a panic fails the step.
fn run_validator(validator: &dyn Validator, input: &ValidationInput<'_>) -> ValidationStep {
    let outcome =
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| validator.validate(input)))
            .unwrap_or_else(|_| {
                Err(step_error(
                    "Error99",
                    "Internal Validator Error",
                    "IV001",
                    About::Nothing,
                    format!("The {} step failed internally", validator.name()),
                ))
            });
    let (status, error) = match outcome {
        Ok(()) => (DocumentStatus::Valid, validator.notes(input)),
        Err(e) => (DocumentStatus::Invalid, Some(e)),
    };
    ValidationStep {
        name: validator.name().to_owned(),
        status,
        error,
    }
}

/// Store the outcome (Valid with a long id, or Invalid) and notify the issuer, and a known
/// receiver of a valid document.
fn record_validation(
    store: &mut Store,
    fixtures: &Fixtures,
    uuid: &str,
    steps: Vec<ValidationStep>,
    valid: bool,
    now: DateTime<Utc>,
) {
    let Some(doc) = store.documents.get_mut(uuid) else {
        return;
    };
    doc.steps = steps;
    doc.validated = Some(now);
    doc.status = if valid {
        DocumentStatus::Valid
    } else {
        DocumentStatus::Invalid
    };
    if valid {
        doc.long_id = Some(random_id(40));
    }
    let issuer = doc.issuer_tin().to_owned();
    let receiver = doc.receiver_tin().map(str::to_owned);
    let internal = doc.facts.internal_id.clone();
    let status = doc.status;
    store.notify(
        &issuer,
        notification_type::DOCUMENT_VALIDATED,
        format!("Document {internal} validated"),
        format!("Document {internal} ({uuid}) was validated: {status}."),
        now,
    );
    if valid && let Some(receiver) = receiver.filter(|r| fixtures.taxpayer(r).is_some()) {
        store.notify(
            &receiver,
            notification_type::DOCUMENT_RECEIVED,
            format!("Document {internal} received"),
            format!("You received document {internal} ({uuid}) from {issuer}."),
            now,
        );
    }
}
