//! invois side by side with the floor it cannot beat: one RSA-2048 signature.
//!
//! ```sh
//! cargo bench -p invois-sign --bench side_by_side
//! INVOIS_BENCH_ROUNDS=5 cargo bench -p invois-sign --bench side_by_side
//! ```
//!
//! Each round measures, for each plain invoice of 1, 10 and 100 lines (the testkit's builder,
//! JSON and XML), the floor and then invois, so every ratio compares figures taken moments
//! apart: a shared machine slows both alike. The floor is `openssl speed -elapsed rsa2048`
//! (wall-clock time) when an `openssl` binary is on the PATH, else the raw RSA operation of
//! the library invois signs with, timed in this process (both are printed when both exist).
//! What is measured:
//!
//! - sign: `invois_sign::sign` on the model writer's output, against one RSA-2048 signature,
//!   beside the least any signer can reach: one SHA-256 pass over the document and then the
//!   signature, which signs that digest;
//! - verify: `invois_sign::verify` with the test CA trusted, against its own floor, one
//!   SHA-256 pass over the signed document plus one RSA-2048 verification. The signer's
//!   certificate has been seen before (as for every document but a signer's first), so its
//!   parse and its issuer's signature come from verification's memory;
//! - parse+validate: `Document::parse_as` and `invois_model::validate` of the signed document;
//! - write: the model's writer (`Document::to_string_as`).
//!
//! Against the in-process floor, sign and verify are also timed in alternating batches with
//! it ("paired"), the steadiest ratio on a busy machine; openssl's figure comes from its own
//! run of a second per operation. The table shows the median of the rounds' figures and the
//! spread of their ratios.

use std::hint::black_box;
use std::process::Command;
use std::time::{Duration, Instant};

use aws_lc_rs::signature::{
    KeyPair as _, ParsedPublicKey, RSA_PKCS1_2048_8192_SHA256, RSA_PKCS1_SHA256, RsaKeyPair,
};
use chrono::Utc;
use invois_model::{Document, ValidationContext, validate};
use invois_sign::{Format, Signer, TestCa, TestCertRequest, TrustStore, sign, verify};
use invois_testkit::Version;
use invois_testkit::fixtures::{ISSUER_BRN, ISSUER_TIN, invoice_with_lines, issued_at};
use sha2::{Digest, Sha256};

const LINES: [usize; 3] = [1, 10, 100];
const FORMATS: [Format; 2] = [Format::Json, Format::Xml];

/// How many calls of `f` take about `ms` milliseconds.
fn calls_for<R>(f: &mut impl FnMut() -> R, ms: u64) -> u32 {
    let start = Instant::now();
    let mut calls = 0u32;
    while start.elapsed() < Duration::from_millis(ms) || calls < 3 {
        black_box(f());
        calls += 1;
    }
    calls
}

/// Per-call time of one batch of `calls` calls.
fn batch<R>(f: &mut impl FnMut() -> R, calls: u32) -> Duration {
    let t = Instant::now();
    for _ in 0..calls {
        black_box(f());
    }
    t.elapsed() / calls
}

fn median_of<T: PartialOrd + Copy>(mut v: Vec<T>) -> T {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
    v[v.len() / 2]
}

/// Per-call time of `f`: batches of about 20 ms, the median of seven.
fn time<R>(mut f: impl FnMut() -> R) -> Duration {
    let calls = calls_for(&mut f, 20);
    median_of((0..7).map(|_| batch(&mut f, calls)).collect())
}

/// `f` against `floor` in alternating batches of about 10 ms each, fifteen pairs: the median
/// per-call time of `f`, and the median of the pairs' ratios. Pairs taken moments apart see
/// the same load, so their ratio holds still on a busy machine where either time does not.
fn paired<R, S>(mut f: impl FnMut() -> R, mut floor: impl FnMut() -> S) -> (Duration, f64) {
    let (nf, nfloor) = (calls_for(&mut f, 10), calls_for(&mut floor, 10));
    let mut times = Vec::new();
    let mut ratios = Vec::new();
    for _ in 0..15 {
        let a = batch(&mut f, nf);
        let b = batch(&mut floor, nfloor);
        times.push(a);
        ratios.push(a.as_secs_f64() / b.as_secs_f64());
    }
    (median_of(times), median_of(ratios))
}

/// `openssl speed rsa2048`'s sign and verify times, when openssl is installed.
fn openssl_speed() -> Option<(Duration, Duration)> {
    let out = Command::new("openssl")
        // Wall-clock time, like every other figure here: by default openssl divides by its CPU
        // time, which a busy machine does not inflate.
        .args(["speed", "-elapsed", "-seconds", "1", "rsa2048"])
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    // "rsa 2048 bits 0.000263s 0.000015s ..." (later versions add encrypt/decrypt columns).
    let line = text.lines().find(|l| {
        let mut w = l.split_whitespace();
        w.next() == Some("rsa") && w.next() == Some("2048")
    })?;
    let mut secs = line
        .split_whitespace()
        .filter_map(|w| w.strip_suffix('s')?.parse::<f64>().ok());
    Some((
        Duration::from_secs_f64(secs.next()?),
        Duration::from_secs_f64(secs.next()?),
    ))
}

/// One RSA-2048 operation of the library invois signs with, on the signing key. The public
/// key is parsed once, as `openssl speed` and invois's verification (which keeps a signer's
/// parsed key) both do: the floor is the RSA operation, not the parsing of a key.
struct RawRsa {
    key: RsaKeyPair,
    public: ParsedPublicKey,
}

impl RawRsa {
    fn sign(&self, data: &[u8]) -> Vec<u8> {
        let mut sig = vec![0; self.key.public_modulus_len()];
        self.key
            .sign(
                &RSA_PKCS1_SHA256,
                &aws_lc_rs::rand::SystemRandom::new(),
                data,
                &mut sig,
            )
            .unwrap();
        sig
    }

    fn verify(&self, data: &[u8], sig: &[u8]) -> bool {
        self.public.verify_sig(data, sig).is_ok()
    }
}

/// The floor, measured again before each case.
struct Floor {
    openssl: Option<(Duration, Duration)>,
    raw_sign: Duration,
    raw_verify: Duration,
}

impl Floor {
    fn measure(raw: &RawRsa) -> Self {
        let openssl = openssl_speed();
        // A 32-byte message: the RSA operation itself (PKCS#1 v1.5 hashes what it signs).
        let msg = [7u8; 32];
        let sig = raw.sign(&msg);
        Floor {
            openssl,
            raw_sign: time(|| raw.sign(&msg)),
            raw_verify: time(|| raw.verify(&msg, &sig)),
        }
    }

    fn sign(&self) -> Duration {
        self.openssl.map_or(self.raw_sign, |(s, _)| s)
    }

    fn verify(&self) -> Duration {
        self.openssl.map_or(self.raw_verify, |(_, v)| v)
    }
}

/// A document to measure, in one format.
struct Case {
    lines: usize,
    format: Format,
    unsigned: Vec<u8>,
    signed: Vec<u8>,
}

/// One round's figures for one case.
#[derive(Clone, Copy)]
struct Figures {
    sign: Duration,
    verify: Duration,
    verify_floor: Duration,
    parse_validate: Duration,
    write: Duration,
    floor: Duration,
    /// sign / the in-process RSA signature, paired.
    sign_raw: f64,
    /// verify / (SHA-256 of the document + the in-process RSA verification), paired.
    verify_raw: f64,
    /// The least any signer can reach: (one SHA-256 pass over the document + the in-process
    /// RSA signature) / that signature. The signature signs the digest, so the pass must end
    /// before it starts, and SHA-256 is one chain of blocks: no second core shortens it.
    sign_least: f64,
}

fn model_format(format: Format) -> invois_model::Format {
    match format {
        Format::Json => invois_model::Format::Json,
        Format::Xml => invois_model::Format::Xml,
    }
}

fn cases(signer: &Signer) -> Vec<Case> {
    let mut out = Vec::new();
    for lines in LINES {
        let doc = invoice_with_lines(lines, Version::V1_1);
        for format in FORMATS {
            let unsigned = doc.to_string_as(model_format(format)).into_bytes();
            let signed = sign(&unsigned, format, signer, Utc::now()).unwrap();
            out.push(Case {
                lines,
                format,
                unsigned,
                signed,
            });
        }
    }
    out
}

fn measure(case: &Case, raw: &RawRsa, signer: &Signer, trust: &TrustStore) -> (Floor, Figures) {
    let floor = Floor::measure(raw);
    let ctx = ValidationContext::at(issued_at())
        .with_codes(std::sync::Arc::new(invois_model::CodeTables::embedded()));
    let format = case.format;
    let sha = time(|| Sha256::digest(&case.signed));
    // The unsigned document: what is hashed is its canonical form, about as long.
    let sha_unsigned = time(|| Sha256::digest(&case.unsigned));
    let doc = Document::parse_as(&case.signed, model_format(format)).unwrap();
    let msg = [7u8; 32];
    let sig = raw.sign(&msg);
    let (sign_time, sign_raw) = paired(
        || sign(&case.unsigned, format, signer, Utc::now()).unwrap(),
        || raw.sign(&msg),
    );
    let (verify_time, verify_raw) = paired(
        || verify(&case.signed, Some(format), Some(trust)),
        || (Sha256::digest(&case.signed), raw.verify(&msg, &sig)),
    );
    let figures = Figures {
        sign: sign_time,
        verify: verify_time,
        verify_floor: sha + floor.verify(),
        parse_validate: time(|| {
            let doc = Document::parse_as(&case.signed, model_format(format)).unwrap();
            validate(&doc, &ctx)
        }),
        write: time(|| doc.to_string_as(model_format(format))),
        floor: floor.sign(),
        sign_raw,
        verify_raw,
        sign_least: ratio(sha_unsigned + floor.raw_sign, floor.raw_sign),
    };
    (floor, figures)
}

fn ms(d: Duration) -> String {
    format!("{:.3}", d.as_secs_f64() * 1e3)
}

fn ratio(a: Duration, b: Duration) -> f64 {
    a.as_secs_f64() / b.as_secs_f64()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// "1.05x (1.02-1.09)": the median ratio over the rounds and its spread.
fn ratio_cell(rounds: &[Figures], part: fn(&Figures) -> (Duration, Duration)) -> String {
    ratios_cell(
        rounds
            .iter()
            .map(|f| {
                let (a, b) = part(f);
                ratio(a, b)
            })
            .collect(),
    )
}

fn ratios_cell(ratios: Vec<f64>) -> String {
    let lo = ratios.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = ratios.iter().copied().fold(0.0, f64::max);
    if ratios.len() > 1 {
        format!("{:.2}x ({lo:.2}-{hi:.2})", median(ratios))
    } else {
        format!("{:.2}x", median(ratios))
    }
}

fn median_ms(rounds: &[Figures], part: fn(&Figures) -> Duration) -> String {
    let v = rounds.iter().map(|f| part(f).as_secs_f64()).collect();
    ms(Duration::from_secs_f64(median(v)))
}

fn print_floors(floors: &[Floor]) {
    let med = |f: fn(&Floor) -> Duration| {
        let v = floors.iter().map(|x| f(x).as_secs_f64()).collect();
        ms(Duration::from_secs_f64(median(v)))
    };
    println!("\nthe floor, median of {} measurements:", floors.len());
    if floors.iter().all(|f| f.openssl.is_some()) {
        println!(
            "  openssl speed rsa2048 (the floor):   sign {} ms, verify {} ms",
            med(|f| f.openssl.map(|o| o.0).unwrap_or_default()),
            med(|f| f.openssl.map(|o| o.1).unwrap_or_default())
        );
    } else {
        println!("  openssl not found: the floor is the in-process RSA operation");
    }
    println!(
        "  aws-lc-rs RSA-2048 in this process:  sign {} ms, verify {} ms",
        med(|f| f.raw_sign),
        med(|f| f.raw_verify)
    );
}

fn print_table(cases: &[Case], results: &[Vec<Figures>]) {
    println!(
        "\n| lines | format | signed bytes | sign ms | sign / floor | sign / in-process RSA, paired | least any signer can reach: (SHA-256 + RSA) / RSA | verify ms | verify / (SHA-256 + floor's verify) | verify / (SHA-256 + in-process verify), paired | parse+validate ms | / floor | write ms | / floor |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|");
    for (case, rounds) in cases.iter().zip(results) {
        println!(
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            case.lines,
            case.format.name(),
            case.signed.len(),
            median_ms(rounds, |f| f.sign),
            ratio_cell(rounds, |f| (f.sign, f.floor)),
            ratios_cell(rounds.iter().map(|f| f.sign_raw).collect()),
            ratios_cell(rounds.iter().map(|f| f.sign_least).collect()),
            median_ms(rounds, |f| f.verify),
            ratio_cell(rounds, |f| (f.verify, f.verify_floor)),
            ratios_cell(rounds.iter().map(|f| f.verify_raw).collect()),
            median_ms(rounds, |f| f.parse_validate),
            ratio_cell(rounds, |f| (f.parse_validate, f.floor)),
            median_ms(rounds, |f| f.write),
            ratio_cell(rounds, |f| (f.write, f.floor)),
        );
    }
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` does not: then run one quick round.
    let benching = std::env::args().any(|a| a == "--bench");
    let rounds: usize = std::env::var("INVOIS_BENCH_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(if benching { 3 } else { 1 });
    let issued = TestCa::well_known()
        .unwrap()
        .issue(&TestCertRequest::new(ISSUER_TIN, ISSUER_BRN))
        .unwrap();
    let signer = issued.signer().unwrap();
    let key = RsaKeyPair::from_pkcs8(issued.key.expose()).unwrap();
    let raw = RawRsa {
        public: ParsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, key.public_key().as_ref())
            .unwrap(),
        key,
    };
    let trust = TrustStore::test_ca().unwrap();
    let cases = cases(&signer);
    for case in &cases {
        assert!(
            verify(&case.signed, Some(case.format), Some(&trust)).is_valid(),
            "{} lines {}: the signed document does not verify",
            case.lines,
            case.format.name()
        );
    }
    let mut floors = Vec::new();
    let mut results: Vec<Vec<Figures>> = vec![Vec::new(); cases.len()];
    for round in 1..=rounds {
        eprintln!("round {round} of {rounds}");
        for (case, out) in cases.iter().zip(&mut results) {
            let (floor, figures) = measure(case, &raw, &signer, &trust);
            out.push(figures);
            floors.push(floor);
        }
    }
    print_floors(&floors);
    print_table(&cases, &results);
}
