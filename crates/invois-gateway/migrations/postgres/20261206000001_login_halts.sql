-- Logins MyInvois refused for good (issue 16): one row per client id while its logins are
-- halted, so that a restart with unchanged credentials stays halted and every instance,
-- /ready, the dashboard and /metrics show it. Keep in step with migrations/sqlite.
CREATE TABLE login_halts (
    client_id TEXT PRIMARY KEY,
    -- The client's login fingerprint (a digest of the token URL, client id and secret):
    -- another value means the configuration changed, and the halt no longer applies.
    fingerprint TEXT NOT NULL,
    -- '' when the refused login sent no onbehalfof.
    on_behalf_of TEXT NOT NULL,
    token_url TEXT NOT NULL,
    status BIGINT NOT NULL,
    correlation_id TEXT,
    -- The identity service's answer (an RFC 6749 error body; a refusal carries no token).
    body TEXT NOT NULL,
    halted_at TIMESTAMPTZ NOT NULL,
    refused_at TIMESTAMPTZ NOT NULL,
    retry_at TIMESTAMPTZ NOT NULL,
    refusals BIGINT NOT NULL
);
