//! Secrets at rest: remote passwords, proxy passwords and client keys are stored encrypted
//! (ChaCha20-Poly1305) with a key kept in a file outside the database, like Pulp's
//! `DB_ENCRYPTION_KEY`. A copy of the database alone reveals none of them.
//!
//! The key file holds one key per line (base64 of 32 random bytes; blank lines and `#`
//! comments are ignored). The first key encrypts; every key decrypts. Rotation puts a new key
//! first, re-encrypts every row, then drops the old keys, so a crash at any point leaves every
//! row readable. A stored value is `enc1:<key id>:<base64(nonce ‖ ciphertext)>`, the key id
//! being the first 8 hex digits of the key's sha256.

use std::io::Write;
use std::path::{Path, PathBuf};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use ring::aead::{self, Aad, CHACHA20_POLY1305, LessSafeKey, Nonce, UnboundKey};
use ring::rand::{SecureRandom, SystemRandom};
use sha2::{Digest, Sha256};

const PREFIX: &str = "enc1:";

struct Key {
    id: String,
    raw: [u8; 32],
    key: LessSafeKey,
}

impl Key {
    fn new(raw: [u8; 32]) -> Key {
        let id = hex::encode(&Sha256::digest(raw)[..4]);
        let key = LessSafeKey::new(
            UnboundKey::new(&CHACHA20_POLY1305, &raw).expect("a 32-byte ChaCha20-Poly1305 key"),
        );
        Key { id, raw, key }
    }
}

/// The keys of a key file, the first one current.
pub struct SecretBox {
    path: PathBuf,
    keys: Vec<Key>,
    rng: SystemRandom,
}

impl std::fmt::Debug for SecretBox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // never the keys themselves
        f.debug_struct("SecretBox")
            .field("path", &self.path)
            .field("keys", &self.keys.iter().map(|k| &k.id).collect::<Vec<_>>())
            .finish()
    }
}

fn random_key(rng: &SystemRandom) -> [u8; 32] {
    let mut raw = [0u8; 32];
    rng.fill(&mut raw).expect("the system's random source");
    raw
}

fn parse(path: &Path, text: &str) -> Result<Vec<Key>, String> {
    let mut keys = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let raw: [u8; 32] = B64
            .decode(line)
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| {
                format!(
                    "{} line {}: not a key (base64 of 32 bytes)",
                    path.display(),
                    n + 1
                )
            })?;
        keys.push(Key::new(raw));
    }
    if keys.is_empty() {
        return Err(format!("{} holds no key", path.display()));
    }
    Ok(keys)
}

/// Write `keys` to `path` atomically (a temporary file renamed over it), readable by the
/// owner only.
fn write_keys(path: &Path, keys: &[&Key]) -> Result<(), String> {
    use std::os::unix::fs::OpenOptionsExt;
    let tmp = path.with_extension("key.new");
    let mut text = String::from(
        "# depot's encryption keys for secrets at rest; the first one encrypts.\n\
         # Keep a copy apart from the database backups: without it no secret can be read.\n",
    );
    for k in keys {
        text.push_str(&B64.encode(k.raw));
        text.push('\n');
    }
    let result = (|| -> std::io::Result<()> {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)?;
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)?;
        if let Some(dir) = path.parent() {
            std::fs::File::open(dir)?.sync_all()?;
        }
        Ok(())
    })();
    result.map_err(|e| format!("cannot write {}: {e}", path.display()))
}

impl SecretBox {
    /// Load the key file at `path`, creating it with a new key when it does not exist.
    pub fn load_or_create(path: &Path) -> Result<SecretBox, String> {
        let rng = SystemRandom::new();
        if !path.exists() {
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir)
                    .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
            }
            let key = Key::new(random_key(&rng));
            write_keys(path, &[&key])?;
            tracing::info!(path = %path.display(), "created the key for secrets at rest");
        }
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        {
            use std::os::unix::fs::PermissionsExt;
            if let Ok(meta) = std::fs::metadata(path)
                && meta.permissions().mode() & 0o077 != 0
            {
                tracing::warn!(path = %path.display(), "the key file is readable by others than its owner; chmod 600 it");
            }
        }
        Ok(SecretBox {
            path: path.to_path_buf(),
            keys: parse(path, &text)?,
            rng,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Encrypt `plain` with the current key.
    pub fn seal(&self, plain: &str) -> String {
        let key = &self.keys[0];
        let mut nonce = [0u8; aead::NONCE_LEN];
        self.rng
            .fill(&mut nonce)
            .expect("the system's random source");
        let mut buf = plain.as_bytes().to_vec();
        key.key
            .seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce), Aad::empty(), &mut buf)
            .expect("sealing a small value cannot fail");
        let mut out = nonce.to_vec();
        out.extend_from_slice(&buf);
        format!("{PREFIX}{}:{}", key.id, B64.encode(out))
    }

    /// Decrypt a stored value. Values stored before encryption (plain JSON) are returned as
    /// they are, so they can be sealed on the next start.
    pub fn open(&self, stored: &str) -> Result<String, String> {
        let Some(rest) = stored.strip_prefix(PREFIX) else {
            return Ok(stored.to_string());
        };
        let (id, data) = rest.split_once(':').ok_or("a damaged secret")?;
        let key = self.keys.iter().find(|k| k.id == id).ok_or_else(|| {
            format!(
                "the secret was encrypted with key {id}, which is not in {}",
                self.path.display()
            )
        })?;
        let bytes = B64.decode(data).map_err(|_| "a damaged secret")?;
        if bytes.len() < aead::NONCE_LEN {
            return Err("a damaged secret".into());
        }
        let (nonce, sealed) = bytes.split_at(aead::NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| "a damaged secret")?;
        let mut buf = sealed.to_vec();
        let plain = key
            .key
            .open_in_place(nonce, Aad::empty(), &mut buf)
            .map_err(|_| {
                format!("the secret does not decrypt with key {id} (damaged or a different key)")
            })?;
        String::from_utf8(plain.to_vec()).map_err(|_| "a damaged secret".into())
    }

    /// Whether `stored` is sealed with the current key (nothing to do for rotation).
    pub fn is_current(&self, stored: &str) -> bool {
        stored
            .strip_prefix(PREFIX)
            .and_then(|r| r.split_once(':'))
            .is_some_and(|(id, _)| id == self.keys[0].id)
    }

    /// First step of a rotation: a new key first in the file, the old ones kept.
    pub fn begin_rotation(&mut self) -> Result<(), String> {
        let key = Key::new(random_key(&self.rng));
        let mut all: Vec<&Key> = vec![&key];
        all.extend(self.keys.iter());
        write_keys(&self.path, &all)?;
        self.keys.insert(0, key);
        Ok(())
    }

    /// Last step of a rotation, once every value is sealed with the current key: drop the
    /// others.
    pub fn finish_rotation(&mut self) -> Result<(), String> {
        write_keys(&self.path, &[&self.keys[0]])?;
        self.keys.truncate(1);
        Ok(())
    }

    /// The current key's id.
    pub fn current_id(&self) -> &str {
        &self.keys[0].id
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_open_rotate() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secrets.key");
        let mut b = SecretBox::load_or_create(&path).unwrap();
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let sealed = b.seal(r#"{"password":"hunter2"}"#);
        assert!(sealed.starts_with("enc1:"), "{sealed}");
        assert!(!sealed.contains("hunter2"));
        assert_ne!(sealed, b.seal(r#"{"password":"hunter2"}"#), "nonces differ");
        assert_eq!(b.open(&sealed).unwrap(), r#"{"password":"hunter2"}"#);
        assert_eq!(b.open("{}").unwrap(), "{}", "values from before encryption");
        assert!(b.is_current(&sealed));

        // a tampered value is refused, not misread
        let mut tampered = sealed.clone().into_bytes();
        let last = tampered.len() - 3;
        tampered[last] = if tampered[last] == b'A' { b'B' } else { b'A' };
        assert!(b.open(std::str::from_utf8(&tampered).unwrap()).is_err());

        // the same file loads the same key
        let again = SecretBox::load_or_create(&path).unwrap();
        assert_eq!(again.open(&sealed).unwrap(), r#"{"password":"hunter2"}"#);

        // rotation: the old value reads during and not after
        let old_id = b.current_id().to_string();
        b.begin_rotation().unwrap();
        assert!(!b.is_current(&sealed));
        assert_eq!(b.open(&sealed).unwrap(), r#"{"password":"hunter2"}"#);
        let resealed = b.seal(&b.open(&sealed).unwrap());
        b.finish_rotation().unwrap();
        assert_ne!(b.current_id(), old_id);
        assert!(b.open(&resealed).is_ok());
        let err = b.open(&sealed).unwrap_err();
        assert!(err.contains(&old_id), "{err}");
        let reloaded = SecretBox::load_or_create(&path).unwrap();
        assert_eq!(reloaded.current_id(), b.current_id());
    }

    #[test]
    fn bad_key_files_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k");
        std::fs::write(&path, "# only a comment\n").unwrap();
        assert!(
            SecretBox::load_or_create(&path)
                .unwrap_err()
                .contains("holds no key")
        );
        std::fs::write(&path, "bm90IGEga2V5\n").unwrap();
        assert!(
            SecretBox::load_or_create(&path)
                .unwrap_err()
                .contains("line 1")
        );
    }
}
