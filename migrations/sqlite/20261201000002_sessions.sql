-- Dashboard sessions: the cookie carries a random id; the database keeps
-- only a digest of it bound to the API token, so a leaked database row
-- signs nobody in, and changing the token ends every session.
CREATE TABLE sessions (
    digest TEXT PRIMARY KEY,
    created_ms INTEGER NOT NULL,
    expires_ms INTEGER NOT NULL
);
CREATE INDEX sessions_expiry ON sessions (expires_ms);
