//! The MyInvois wire: request and response types, both error envelopes, and the endpoint table.
