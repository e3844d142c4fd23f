//! MyInvois v1.1/v1.3 signatures for JSON and XML documents: sign, verify, explain (DS3xx codes).
