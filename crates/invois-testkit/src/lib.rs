//! Test helpers: spawn a sandbox on port 0, sample loaders.
