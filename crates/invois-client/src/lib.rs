//! Async MyInvois client following LHDN's integration practices: token cache, rate limits, safe retries, poller.
