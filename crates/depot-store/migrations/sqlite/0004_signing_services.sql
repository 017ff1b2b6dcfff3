-- Signing services: a script that makes a detached, ASCII-armored signature of a file with a
-- key only the script can use (Pulp's AsciiArmoredDetachedSigningService).
CREATE TABLE signing_services (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    pulp_type TEXT NOT NULL,
    script TEXT NOT NULL,
    pubkey_fingerprint TEXT NOT NULL,
    public_key TEXT NOT NULL,
    pulp_created TEXT NOT NULL,
    pulp_last_updated TEXT NOT NULL
);
