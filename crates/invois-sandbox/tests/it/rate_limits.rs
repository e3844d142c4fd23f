//! Rate limits per client id and endpoint class (README §3.2, §5) on the sandbox clock.

use std::collections::HashMap;

use crate::common::*;
use invois_api::{RateClass, RateProfile};
use invois_sandbox::SandboxConfig;

#[tokio::test]
async fn last_allowed_call_and_first_refused_call() {
    let h = start().await;
    let token = h.token(&h.supplier()).await;
    // Search Documents: 12 per minute in production.
    let path = "/api/v1.0/documents/search?submissionDateFrom=2025-01-01T00:00:00Z&submissionDateTo=2025-01-02T00:00:00Z";
    for i in 1..=12u32 {
        let (status, headers, _) = h.get(&token, path).await;
        assert_eq!(status, 200, "call {i}");
        assert_eq!(headers["X-Rate-Limit-Limit"], "12");
        assert_eq!(
            headers["X-Rate-Limit-Remaining"],
            (12 - i).to_string().as_str()
        );
    }
    let (status, headers, body) = h.get(&token, path).await;
    assert_eq!(status, 429);
    assert_envelope(&body, "TooManyRequests");
    let retry: u64 = headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((59..=60).contains(&retry), "{retry}");
    assert_eq!(headers["X-Rate-Limit-Remaining"], "0");
    let reset = headers["X-Rate-Limit-Reset"].to_str().unwrap();
    assert!(
        chrono::DateTime::parse_from_rfc3339(reset).is_ok(),
        "{reset}"
    );
    // Other classes are unaffected.
    let (status, _, _) = h.get(&token, "/api/v1.0/documenttypes").await;
    assert_eq!(status, 200);
    // A minute later on the clock the window has slid.
    h.advance(60);
    let (status, _, _) = h.get(&token, path).await;
    assert_eq!(status, 200);
    let counters = h.running.sandbox.client_counters(&h.supplier().client_id);
    assert_eq!(counters.rate_limited.get("search_documents"), Some(&1));
}

#[tokio::test]
async fn login_is_limited_per_client_id() {
    let h = start().await;
    let c = h.supplier();
    for _ in 0..12 {
        h.token(&c).await;
    }
    let resp = h
        .login_raw(
            &[
                ("client_id", &c.client_id),
                ("client_secret", &c.secret),
                ("grant_type", "client_credentials"),
            ],
            None,
        )
        .await;
    assert_eq!(resp.status(), 429);
    assert!(resp.headers().contains_key("retry-after"));
    // Another client id has its own budget.
    h.token(&h.buyer()).await;
}

#[tokio::test]
async fn sandbox_profile_and_overrides_lower_the_budget_and_follow_the_clock() {
    let mut config = SandboxConfig {
        profile: RateProfile::Sandbox,
        rate_overrides: HashMap::from([(RateClass::GetSubmission, 2)]),
        ..crate::common::config()
    };
    // Windows follow the sandbox's clock, which the test moves by hand.
    config.clock = invois_sandbox::Clock::real();
    let h = start_with(config).await;
    let token = h.token(&h.supplier()).await;
    let path = "/api/v1.0/documentsubmissions/ZZZZZZZZZZZZZZZZZZZZZZZZZZ";
    let (_, headers, _) = h
        .get(&token, "/api/v1.0/documents/ZZZZZZZZZZZZZZZZZZZZZZZZZZ/raw")
        .await;
    assert_eq!(
        headers["X-Rate-Limit-Limit"], "30",
        "sandbox profile halves 60"
    );
    for _ in 0..2 {
        let (status, _, _) = h.get(&token, path).await;
        assert_eq!(status, 404);
    }
    let (status, _, _) = h.get(&token, path).await;
    assert_eq!(status, 429);
    h.clock().advance(std::time::Duration::from_secs(62));
    let (status, _, _) = h.get(&token, path).await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn an_intermediary_client_shares_one_budget() {
    let h = start().await;
    let i = h.intermediary();
    let token = h.token(&i).await;
    for _ in 0..11 {
        h.token(&i).await;
    }
    // 12 intermediary logins used: the 13th is refused whatever the taxpayer.
    let resp = h
        .login_raw(
            &[
                ("client_id", &i.client_id),
                ("client_secret", &i.secret),
                ("grant_type", "client_credentials"),
            ],
            Some(SUPPLIER_TIN),
        )
        .await;
    assert_eq!(resp.status(), 429);
    let (status, _, _) = h.get(&token, "/api/v1.0/documenttypes").await;
    assert_eq!(status, 200);
}
