//! Identity: the credential guard, the token request on the wire, the token cache.

use std::time::Duration;

use crate::common::{Double, Reply, token_reply};
use invois_client::{Client, Clock, ConfigError, CredentialField, Error};
use serde_json::json;

fn types_reply() -> Reply {
    Reply::ok(json!({ "result": [] }))
}

#[tokio::test]
async fn token_request_is_the_documented_form() {
    let d = Double::start(Clock::real(), |_, _| types_reply()).await;
    let c = d.client();
    c.platform().document_types().await.unwrap();
    let tokens = d.token_requests();
    assert_eq!(tokens.len(), 1);
    let t = &tokens[0];
    assert_eq!(t.method, "POST");
    assert_eq!(t.path, "/connect/token");
    assert_eq!(
        t.header("content-type"),
        Some("application/x-www-form-urlencoded")
    );
    assert_eq!(t.header("onbehalfof"), None);
    let form: Vec<(String, String)> = url::form_urlencoded::parse(&t.body).into_owned().collect();
    let get = |k: &str| form.iter().find(|(f, _)| f == k).map(|(_, v)| v.as_str());
    assert_eq!(get("client_id"), Some("9e21b10c-client"));
    assert_eq!(get("client_secret"), Some("s3cret-value-xyz"));
    assert_eq!(get("grant_type"), Some("client_credentials"));
    assert_eq!(get("scope"), Some("InvoicingAPI"));
    // The API call carries the bearer token and the standard headers.
    let api = &d.api_requests()[0];
    assert_eq!(api.path, "/api/v1.0/documenttypes");
    assert_eq!(api.header("authorization"), Some("Bearer token-1"));
    assert_eq!(api.header("accept"), Some("application/json"));
    assert_eq!(api.header("accept-language"), Some("en"));
}

#[tokio::test]
async fn intermediary_sends_onbehalfof_at_login_only_and_gets_its_own_token() {
    let d = Double::start(Clock::real(), |_, _| types_reply()).await;
    let taxpayer = d.client();
    let for_a = taxpayer.on_behalf_of("C25845632020").unwrap();
    let for_b = taxpayer.on_behalf_of("IG12345678912:201901234567").unwrap();
    for_a.platform().document_types().await.unwrap();
    for_a.platform().document_types().await.unwrap();
    for_b.platform().document_types().await.unwrap();
    taxpayer.platform().document_types().await.unwrap();
    let tokens = d.token_requests();
    // One token per (client id, onbehalfof): A, B, and the taxpayer itself.
    assert_eq!(tokens.len(), 3);
    assert_eq!(tokens[0].header("onbehalfof"), Some("C25845632020"));
    assert_eq!(
        tokens[1].header("onbehalfof"),
        Some("IG12345678912:201901234567")
    );
    assert_eq!(tokens[2].header("onbehalfof"), None);
    let api = d.api_requests();
    assert!(api.iter().all(|r| r.header("onbehalfof").is_none()));
    assert_eq!(api[0].header("authorization"), Some("Bearer token-1"));
    assert_eq!(api[1].header("authorization"), Some("Bearer token-1"));
    assert_eq!(api[2].header("authorization"), Some("Bearer token-2"));
    assert_eq!(api[3].header("authorization"), Some("Bearer token-3"));
}

#[tokio::test]
async fn identity_host_is_separate_from_the_api_host() {
    let identity = Double::start(Clock::real(), |_, _| Reply::Json(404, json!({}))).await;
    let api = Double::start_with(
        Clock::real(),
        |_, _| Reply::Json(404, json!({})),
        |_, _| types_reply(),
    )
    .await;
    let c = api
        .builder()
        .identity_base(format!("{}/", identity.base))
        .build()
        .unwrap();
    c.platform().document_types().await.unwrap();
    assert_eq!(identity.token_requests().len(), 1);
    assert_eq!(api.token_requests().len(), 0);
    assert_eq!(api.api_requests().len(), 1);
}

#[tokio::test]
async fn placeholder_credentials_never_reach_connect_token() {
    let d = Double::start(Clock::real(), |_, _| types_reply()).await;
    for (id, secret, field) in [
        ("YOUR_CLIENT_ID", "s3cret", CredentialField::ClientId),
        ("0", "s3cret", CredentialField::ClientId),
        ("", "s3cret", CredentialField::ClientId),
        (
            "9e21b10c",
            "YOUR_CLIENT_SECRET",
            CredentialField::ClientSecret,
        ),
        ("9e21b10c", "", CredentialField::ClientSecret),
        ("9e21b10c", "0", CredentialField::ClientSecret),
        (
            "{{clientId}}",
            "{{clientSecret}}",
            CredentialField::ClientId,
        ),
    ] {
        let err = Client::builder()
            .api_base(d.base.clone())
            .credentials(id, secret)
            .build()
            .unwrap_err();
        match &err {
            ConfigError::PlaceholderCredential { field: f, .. } => assert_eq!(*f, field),
            other => panic!("{id}/{secret}: {other:?}"),
        }
        let msg = err.to_string();
        assert!(msg.contains("/connect/token was not called"), "{msg}");
    }
    assert!(d.requests().is_empty(), "nothing may reach the server");
}

#[tokio::test]
async fn fifty_concurrent_calls_cause_exactly_one_token_request() {
    let d = Double::start_with(
        Clock::real(),
        // A slow identity service, so every caller arrives while the login is in flight.
        |_, n| Reply::Slow(Duration::from_millis(200), Box::new(token_reply(n))),
        |_, _| types_reply(),
    )
    .await;
    let c = d.client();
    let tasks: Vec<_> = (0..50)
        .map(|_| {
            let c = c.clone();
            tokio::spawn(async move { c.platform().document_types().await })
        })
        .collect();
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    assert_eq!(d.token_requests().len(), 1);
    assert_eq!(d.api_requests().len(), 50);
    assert!(
        d.api_requests()
            .iter()
            .all(|r| r.header("authorization") == Some("Bearer token-1"))
    );
}

#[tokio::test]
async fn a_failed_login_is_shared_by_its_waiters_not_repeated() {
    let d = Double::start_with(
        Clock::real(),
        |_, _| {
            Reply::Slow(
                Duration::from_millis(150),
                Box::new(Reply::Json(
                    400,
                    json!({"error": "invalid_client", "error_description": "User blocked"}),
                )),
            )
        },
        |_, _| types_reply(),
    )
    .await;
    let c = d.client();
    let tasks: Vec<_> = (0..10)
        .map(|_| {
            let c = c.clone();
            tokio::spawn(async move { c.platform().document_types().await })
        })
        .collect();
    for t in tasks {
        match t.await.unwrap() {
            Err(Error::Login(f)) => {
                assert_eq!(f.status, 400);
                assert_eq!(f.code(), Some("invalid_client"));
                assert_eq!(f.message(), Some("User blocked"));
            }
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(d.token_requests().len(), 1);
    assert!(d.api_requests().is_empty());
}

#[tokio::test]
async fn token_is_reused_for_its_lifetime_and_refreshed_a_minute_early() {
    let clock = Clock::real();
    let d = Double::start(clock.clone(), |_, _| types_reply()).await;
    let c = d.client();
    c.platform().document_types().await.unwrap();
    clock.advance(Duration::from_secs(3500));
    c.platform().document_types().await.unwrap();
    assert_eq!(d.token_requests().len(), 1, "still valid at 3500 s");
    clock.advance(Duration::from_secs(45)); // 3545 s: inside the 60 s margin
    c.platform().document_types().await.unwrap();
    assert_eq!(d.token_requests().len(), 2, "refreshed before expiry");
    let api = d.api_requests();
    assert_eq!(api[1].header("authorization"), Some("Bearer token-1"));
    assert_eq!(api[2].header("authorization"), Some("Bearer token-2"));
}

#[tokio::test]
async fn a_401_invalidates_the_token_once_and_retries_once() {
    // First API call refused, then fine.
    let d = Double::start(Clock::real(), |r, _| {
        if r.header("authorization") == Some("Bearer token-1") {
            Reply::Json(
                401,
                json!({"error": {"code": "Unauthorized", "message": "expired"}}),
            )
        } else {
            types_reply()
        }
    })
    .await;
    let c = d.client();
    c.platform().document_types().await.unwrap();
    assert_eq!(d.token_requests().len(), 2);
    assert_eq!(d.api_requests().len(), 2);

    // Always refused: exactly one retry, then the 401 is returned.
    let d = Double::start(Clock::real(), |_, _| {
        Reply::Json(
            401,
            json!({"error": {"code": "Unauthorized", "message": "no"}}),
        )
    })
    .await;
    let err = d.client().platform().document_types().await.unwrap_err();
    assert_eq!(err.status(), Some(401));
    assert_eq!(d.api_requests().len(), 2);
    assert_eq!(d.token_requests().len(), 2);
}

#[tokio::test]
async fn debug_output_never_contains_the_secret_or_the_token() {
    let d = Double::start(Clock::real(), |_, _| {
        Reply::Json(
            403,
            json!({"error": {"code": "Forbidden", "message": "no"}}),
        )
    })
    .await;
    let c = d.client();
    let err = c.platform().document_types().await.unwrap_err();
    for text in [
        format!("{c:?}"),
        format!("{err:?}"),
        err.to_string(),
        format!("{:?}", d.builder()),
    ] {
        assert!(!text.contains("s3cret-value-xyz"), "{text}");
        assert!(!text.contains("token-1"), "{text}");
    }
}

#[derive(Debug, Default)]
struct Counting {
    logins: std::sync::atomic::AtomicUsize,
    calls: parking_lot::Mutex<Vec<invois_client::CallEvent>>,
}

impl invois_client::ClientObserver for Counting {
    fn on_call(&self, event: &invois_client::CallEvent) {
        self.calls.lock().push(event.clone());
    }
    fn on_login(&self, _client_id: &str, _on_behalf_of: Option<&str>) {
        self.logins
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }
}

#[tokio::test]
async fn the_observer_sees_every_attempt_and_the_single_login() {
    let d = Double::start(Clock::real(), |_, _| types_reply()).await;
    let seen = std::sync::Arc::new(Counting::default());
    let c = d.builder().observer(seen.clone()).build().unwrap();
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let c = c.clone();
            tokio::spawn(async move { c.platform().document_types().await })
        })
        .collect();
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    assert_eq!(seen.logins.load(std::sync::atomic::Ordering::SeqCst), 1);
    let calls = seen.calls.lock();
    assert_eq!(calls.len(), 21);
    assert_eq!(
        calls
            .iter()
            .filter(|e| e.endpoint == invois_client::api::Endpoint::LoginTaxpayer)
            .count(),
        1
    );
    assert!(
        calls
            .iter()
            .all(|e| e.outcome == invois_client::CallOutcome::Status(200))
    );
}

#[tokio::test]
async fn a_failed_early_refresh_keeps_the_unexpired_token() {
    let clock = Clock::real();
    let d = Double::start_with(
        clock.clone(),
        |_, n| {
            if n == 1 {
                token_reply(1)
            } else {
                Reply::Json(503, json!({}))
            }
        },
        |_, _| types_reply(),
    )
    .await;
    let c = d
        .builder()
        .retry_policy(invois_client::RetryPolicy::none())
        .build()
        .unwrap();
    c.platform().document_types().await.unwrap();
    clock.advance(Duration::from_secs(3570)); // inside the refresh margin, before expiry
    c.platform().document_types().await.unwrap();
    c.platform().document_types().await.unwrap();
    assert_eq!(
        d.token_requests().len(),
        2,
        "one failed refresh, not one per call"
    );
    assert!(
        d.api_requests()
            .iter()
            .all(|r| r.header("authorization") == Some("Bearer token-1"))
    );
    clock.advance(Duration::from_secs(60)); // now expired: the failure surfaces
    let err = c.platform().document_types().await.unwrap_err();
    assert!(matches!(err, Error::Login(_)), "{err:?}");
}

#[tokio::test]
async fn an_undecodable_token_response_never_keeps_the_token() {
    let d = Double::start_with(
        Clock::real(),
        |_, _| {
            Reply::ok(json!({
                "access_token": "eyJ-secret-token-value", "token_type": "Bearer",
                "expires_in": "an hour"
            }))
        },
        |_, _| types_reply(),
    )
    .await;
    let err = d.client().platform().document_types().await.unwrap_err();
    match &err {
        Error::Decode { path, .. } => assert_eq!(path, "expires_in"),
        other => panic!("{other:?}"),
    }
    assert!(!format!("{err:?}").contains("eyJ-secret-token-value"));
    assert!(!err.to_string().contains("eyJ-secret-token-value"));
}

/// A login refused for good (issue 16): no further login for the client id, whichever
/// `onbehalfof`, until the hour is up or an operator retries; the halt says why and what to
/// do, and holds no secret.
#[tokio::test]
async fn a_login_refused_for_good_halts_logins_until_an_hour_or_a_retry() {
    let clock = Clock::real();
    let d = Double::start_with(
        clock.clone(),
        |_, n| {
            if n <= 2 {
                Reply::Json(
                    400,
                    json!({"error": "invalid_client", "error_description": "Invalid client credentials"}),
                )
            } else {
                token_reply(n)
            }
        },
        |_, _| types_reply(),
    )
    .await;
    let c = d.client();
    let changes = c.watch_login_halt();
    let err = c.platform().document_types().await.unwrap_err();
    assert!(matches!(err, Error::Login(_)), "{err:?}");
    let halt = c.login_halt().expect("halted");
    assert!(changes.has_changed().unwrap());
    assert_eq!(halt.client_id, "9e21b10c-client");
    assert_eq!(halt.code(), Some("invalid_client"));
    assert_eq!(halt.refusals, 1);
    assert_eq!(halt.retry_at - halt.refused_at, chrono::Duration::hours(1));
    let text = halt.to_string();
    for part in [
        "invalid_client",
        "View and Register ERP",
        "/connect/token",
        "TEST:0001",
    ] {
        assert!(text.contains(part), "{part} in {text}");
    }
    let halted = Error::LoginHalted(halt.clone()).to_string();
    assert!(
        halted.contains("halted until") && halted.contains(&text),
        "{halted}"
    );
    assert!(!text.contains("s3cret-value-xyz") && !format!("{halt:?}").contains("s3cret"));

    // Within the hour nothing is sent, whatever the call or the onbehalfof.
    clock.advance(Duration::from_secs(3599));
    for client in [c.clone(), c.on_behalf_of("C25845632020").unwrap()] {
        let err = client.platform().document_types().await.unwrap_err();
        assert!(matches!(err, Error::LoginHalted(_)), "{err:?}");
        assert!(err.login_halt().is_some());
    }
    assert_eq!(d.token_requests().len(), 1);

    // After the hour, one login; refused again, the halt renews for another hour.
    clock.advance(Duration::from_secs(1));
    c.platform().document_types().await.unwrap_err();
    assert_eq!(d.token_requests().len(), 2);
    let again = c.login_halt().expect("still halted");
    assert_eq!((again.refusals, again.halted_at), (2, halt.halted_at));
    c.platform().document_types().await.unwrap_err();
    assert_eq!(d.token_requests().len(), 2);

    // An operator's retry is sent at once; accepted, it lifts the halt.
    c.retry_login().await.unwrap();
    assert!(c.login_halt().is_none());
    c.platform().document_types().await.unwrap();
    assert_eq!(d.token_requests().len(), 3);
}

/// Only refusals a later try cannot change halt: a 5xx, a 429 or the maintenance page do not.
#[tokio::test]
async fn transient_login_failures_do_not_halt() {
    for reply in [
        || Reply::Json(503, json!({})),
        || {
            Reply::with_headers(
                403,
                vec![("content-type", "text/html".to_owned())],
                "<!DOCTYPE html>\n<html><head><title>403 - Forbidden</title></head></html>",
            )
        },
        || Reply::with_headers(429, vec![("retry-after", "0".to_owned())], ""),
    ] {
        let d = Double::start_with(Clock::real(), move |_, _| reply(), |_, _| types_reply()).await;
        let c = d
            .builder()
            .retry_policy(invois_client::RetryPolicy::none())
            .build()
            .unwrap();
        c.platform().document_types().await.unwrap_err();
        assert!(c.login_halt().is_none());
        c.platform().document_types().await.unwrap_err();
        assert_eq!(d.token_requests().len(), 2, "tried again");
    }
}

/// The digest a service compares to know whether the login configuration changed.
#[test]
fn the_login_fingerprint_changes_with_the_secret_and_never_shows_it() {
    let build = |secret: &str, identity: &str| {
        Client::builder()
            .api_base("http://127.0.0.1:1")
            .identity_base(identity)
            .credentials("9e21b10c-client", secret)
            .build()
            .unwrap()
            .login_fingerprint()
    };
    let a = build("s3cret-value-xyz", "http://127.0.0.1:2");
    assert_eq!(a, build("s3cret-value-xyz", "http://127.0.0.1:2"));
    assert_ne!(a, build("s3cret-value-xyZ", "http://127.0.0.1:2"));
    assert_ne!(a, build("s3cret-value-xyz", "http://127.0.0.1:3"));
    assert_eq!(a.len(), 16);
    assert!(!a.contains("s3cret"));
}
