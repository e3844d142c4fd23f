//! Asynchronous validation (README §7): after the configured delay on the sandbox clock, each
//! accepted document goes through the [`Validator`]s in order and ends `Valid` or `Invalid`,
//! with one validation step per validator in the documented shape.
//!
//! Step names follow the numbering seen in real responses where one is known
//! (`Step03-Duplicated Submission Validator` with `Error03`/`DS302` from the official error
//! example, `Step08-Document Signature Validator`); the others are the sandbox's own numbering,
//! in the order of LHDN's published validator list. The structure step (Step01) runs
//! synchronously at submission and is recorded as passed for every accepted document.
//!
//! The list is pluggable: [`crate::SandboxConfig::validators`] takes any `Validator`. Each
//! document is parsed once with `invois-model` and validated once (with the configured code
//! tables); the Core Fields and Code steps report that report's findings, the signature step
//! runs `invois-sign` against the configured trust store.

#![expect(
    clippy::result_large_err,
    reason = "a step error is the documented shape and is produced once per failed step"
)]

use std::sync::Arc;

use chrono::{DateTime, Utc};
use invois_api::documents::ValidationStep;
use invois_api::platform::notification_type;
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
    /// "now" being the time it was received).
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

/// One inner error per finding: its code, its rule (with the offending value) and where it
/// is ([`About::Element`]).
fn finding_error(f: &Finding) -> StepError {
    let message = match &f.value {
        Some(v) => format!("{} (value: {v:?})", f.rule),
        None => f.rule.clone(),
    };
    let (property_name, property_path) = About::Element(&f.xpath).property();
    StepError {
        property_name,
        property_path,
        error_code: Some(f.code.to_owned()),
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
    let inner: Vec<StepError> = findings.map(finding_error).collect();
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
    let (property_name, property_path) = about.property();
    StepError {
        property_name: None,
        property_path: None,
        error_code: Some(outer_code.to_owned()),
        error: Some(outer.to_owned()),
        error_ms: Some(outer.to_owned()),
        target: None,
        inner_error: Some(vec![StepError {
            property_name,
            property_path,
            error_code: Some(inner_code.to_owned()),
            error: Some(message.clone()),
            error_ms: Some(message),
            target: None,
            inner_error: None,
        }]),
    }
}

/// The XPath of a party's TIN: `AccountingSupplierParty` or `AccountingCustomerParty`.
fn tin_xpath(role: &str) -> String {
    format!("/Invoice/cac:{role}/cac:Party/cac:PartyIdentification/cbc:ID[@schemeID='TIN']")
}

/// Name of the synchronous structure step.
pub const STRUCTURE_STEP: &str = "Step01-Structure Validator";

/// `invois-model`'s Core Fields rules (mandatory fields and their forms), and its Arithmetic
/// rules when [`SandboxConfig::check_arithmetic`] is on. The issue-time window (CF010/CF011)
/// is the Taxpayer step's, the missing signature (CF013) the Signature step's, so they are
/// not repeated here.
#[derive(Debug, Default)]
pub struct CoreFieldsValidator;

/// Core-field codes reported by other steps.
const REPORTED_ELSEWHERE: [&str; 3] = ["CF010", "CF011", "CF013"];

impl Validator for CoreFieldsValidator {
    fn name(&self) -> &str {
        "Step02-Core Fields Validator"
    }

    fn validate(&self, input: &ValidationInput<'_>) -> Result<(), StepError> {
        let arithmetic = input.config.check_arithmetic;
        let findings = input.report.errors().filter(|f| {
            (f.category == Category::CoreFields && !REPORTED_ELSEWHERE.contains(&f.code))
                || (arithmetic && f.category == Category::Arithmetic)
        });
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
        let findings = input
            .report
            .errors()
            .filter(|f| f.category == Category::Codes);
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
            Some(d) => Err(step_error(
                "Error03",
                "Duplicated Submission Validator",
                "DS302",
                About::Document,
                format!(
                    "Duplicated submitted document with UUID {} where the values of configured attributes match with values for the document with UUID: {}",
                    doc.uuid, d.uuid
                ),
            )),
            None => Ok(()),
        }
    }
}

/// Issuer and receiver TINs are known taxpayers (or general TINs); the issue date-time is
/// within 72 hours before submission and not in the future.
#[derive(Debug, Default)]
pub struct TaxpayerValidator;

impl Validator for TaxpayerValidator {
    fn name(&self) -> &str {
        "Step04-Taxpayer Validator"
    }

    fn validate(&self, input: &ValidationInput<'_>) -> Result<(), StepError> {
        let doc = input.document;
        let fail = |code: &str, xpath: &str, message: String| {
            Err(step_error(
                "Error04",
                "Taxpayer Validator",
                code,
                About::Element(xpath),
                message,
            ))
        };
        // The issuer is the supplier, or the buyer of a self-billed document.
        let (issuer_role, receiver_role) = if doc.facts.is_self_billed() {
            ("AccountingCustomerParty", "AccountingSupplierParty")
        } else {
            ("AccountingSupplierParty", "AccountingCustomerParty")
        };
        if !input.fixtures.tin_known(doc.issuer_tin()) {
            return fail(
                "TP001",
                &tin_xpath(issuer_role),
                format!(
                    "Issuer TIN {} is not a registered taxpayer",
                    doc.issuer_tin()
                ),
            );
        }
        if let Some(receiver) = doc.receiver_tin()
            && !input.fixtures.tin_known(receiver)
        {
            return fail(
                "TP002",
                &tin_xpath(receiver_role),
                format!("Receiver TIN {receiver} is not a registered taxpayer"),
            );
        }
        if let Some(issued) = doc.facts.issued_at() {
            if issued > doc.received {
                return fail(
                    "TP003",
                    "/Invoice/cbc:IssueDate",
                    format!(
                        "The issue date and time {issued} is in the future (received {})",
                        doc.received
                    ),
                );
            }
            // The issue window, not the cancellation one: they are equal today, not the same fact.
            if doc.received - issued > invois_model::codes::ISSUE_WINDOW {
                return fail(
                    "TP004",
                    "/Invoice/cbc:IssueDate",
                    format!(
                        "The issue date and time {issued} is more than {} hours before submission",
                        invois_model::codes::ISSUE_WINDOW.num_hours()
                    ),
                );
            }
        }
        Ok(())
    }
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
                    "RD002",
                    format!(
                        "Referenced document {uuid} is {}, not Valid",
                        original.status
                    ),
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

/// A document in a currency other than MYR carries `TaxExchangeRate`.
#[derive(Debug, Default)]
pub struct CurrencyValidator;

impl Validator for CurrencyValidator {
    fn name(&self) -> &str {
        "Step07-Currency Validator"
    }

    fn validate(&self, input: &ValidationInput<'_>) -> Result<(), StepError> {
        let f = &input.document.facts;
        match f.currency.as_deref() {
            Some(c) if !c.eq_ignore_ascii_case("MYR") && !f.has_exchange_rate => Err(step_error(
                "Error07",
                "Currency Validator",
                "CV001",
                About::Element("/Invoice/cac:TaxExchangeRate/cbc:CalculationRate"),
                format!("TaxExchangeRate is required when the document currency is {c}"),
            )),
            Some(c) if c.len() != 3 || !c.bytes().all(|b| b.is_ascii_uppercase()) => {
                Err(step_error(
                    "Error07",
                    "Currency Validator",
                    "CV002",
                    About::Element("/Invoice/cbc:DocumentCurrencyCode"),
                    format!("`{c}` is not an ISO 4217 currency code"),
                ))
            }
            _ => Ok(()),
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
            let report = invois_model::validate(&model, &context);
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
