//! A MyInvois-compatible server for offline development and tests.
