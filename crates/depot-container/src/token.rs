//! Registry tokens as Pulp issues them: an ES256 JWT whose `access` claim lists, per requested
//! scope, the actions the caller was granted.
//!
//! Clients treat tokens as opaque; only depot verifies them, with the key that signed them. The
//! key (P-256, PKCS#8) is made on first start, sealed with the secrets key and kept in the
//! database, so every process of one depot signs and verifies with the same key.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use ring::rand::SystemRandom;
use ring::signature::{
    ECDSA_P256_SHA256_FIXED, ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair,
    UnparsedPublicKey,
};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// How long a token is valid (Pulp's `TOKEN_EXPIRATION_TIME`).
pub const TOKEN_TTL_SECONDS: i64 = 300;

/// One `type:name:actions` scope.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Scope {
    pub kind: String,
    pub name: String,
    pub actions: Vec<String>,
}

impl Scope {
    /// `repository:foo/bar:pull,push`; `None` unless there are exactly two `:`.
    pub fn parse(s: &str) -> Option<Scope> {
        let mut parts = s.split(':');
        let (kind, name, actions) = (parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() || kind.is_empty() || name.is_empty() {
            return None;
        }
        Some(Scope {
            kind: kind.to_string(),
            name: name.to_string(),
            actions: actions
                .split(',')
                .filter(|a| !a.is_empty())
                .map(str::to_string)
                .collect(),
        })
    }
}

/// What a verified token says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Claims {
    /// The username; empty for anonymous.
    pub subject: String,
    pub access: Vec<Scope>,
}

impl Claims {
    /// Whether the token grants `action` on `kind:name`.
    pub fn allows(&self, kind: &str, name: &str, action: &str) -> bool {
        self.access
            .iter()
            .any(|s| s.kind == kind && s.name == name && s.actions.iter().any(|a| a == action))
    }
}

pub struct TokenKeys {
    pair: EcdsaKeyPair,
    kid: String,
    rng: SystemRandom,
}

impl std::fmt::Debug for TokenKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenKeys").field("kid", &self.kid).finish()
    }
}

/// DER prefix of a P-256 SubjectPublicKeyInfo, before the 65-byte uncompressed point.
const P256_SPKI_PREFIX: &[u8] = &[
    0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a,
    0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
];

/// RFC 4648 base32 without padding.
fn base32(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut out = String::new();
    let (mut buffer, mut bits) = (0u32, 0u32);
    for &b in bytes {
        buffer = (buffer << 8) | u32::from(b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(ALPHABET[((buffer >> bits) & 31) as usize] as char);
        }
    }
    if bits > 0 {
        out.push(ALPHABET[((buffer << (5 - bits)) & 31) as usize] as char);
    }
    out
}

impl TokenKeys {
    /// A new private key, PKCS#8.
    pub fn generate() -> Vec<u8> {
        EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &SystemRandom::new())
            .expect("generating a P-256 key")
            .as_ref()
            .to_vec()
    }

    pub fn from_pkcs8(pkcs8: &[u8]) -> Result<TokenKeys, String> {
        let rng = SystemRandom::new();
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8, &rng)
            .map_err(|e| format!("the token signing key is not a P-256 PKCS#8 key: {e}"))?;
        // libtrust's key id shape: 12 groups of 4 base32 characters of the key's SHA-256
        let mut spki = P256_SPKI_PREFIX.to_vec();
        spki.extend_from_slice(pair.public_key().as_ref());
        let digest = Sha256::digest(&spki);
        let b32 = base32(&digest[..30]);
        let kid = b32
            .as_bytes()
            .chunks(4)
            .map(|c| std::str::from_utf8(c).expect("ascii"))
            .collect::<Vec<_>>()
            .join(":");
        Ok(TokenKeys { pair, kid, rng })
    }

    /// A signed token for `subject` (empty: anonymous) valid at `service`.
    pub fn issue(
        &self,
        issuer: &str,
        service: &str,
        subject: &str,
        access: &[Scope],
        now: i64,
    ) -> String {
        let header = json!({"alg": "ES256", "kid": self.kid, "typ": "JWT"});
        let access: Vec<Value> = access
            .iter()
            .map(|s| json!({"type": s.kind, "name": s.name, "actions": s.actions}))
            .collect();
        let claims = json!({
            "access": access,
            "aud": service,
            "exp": now + TOKEN_TTL_SECONDS,
            "iat": now,
            "iss": issuer,
            "jti": uuid::Uuid::new_v4().to_string(),
            "nbf": now,
            "sub": subject,
        });
        let signing_input = format!(
            "{}.{}",
            B64.encode(header.to_string()),
            B64.encode(claims.to_string())
        );
        let signature = self
            .pair
            .sign(&self.rng, signing_input.as_bytes())
            .expect("ECDSA signing");
        format!("{signing_input}.{}", B64.encode(signature.as_ref()))
    }

    /// Check a token's signature, audience and validity period.
    pub fn verify(&self, token: &str, service: &str, now: i64) -> Result<Claims, &'static str> {
        let mut parts = token.split('.');
        let (Some(h), Some(p), Some(s), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err("not a JWT");
        };
        let header: Value = B64
            .decode(h)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .ok_or("bad header")?;
        if header["alg"] != "ES256" {
            return Err("unexpected algorithm");
        }
        let signature = B64.decode(s).map_err(|_| "bad signature encoding")?;
        UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, self.pair.public_key().as_ref())
            .verify(format!("{h}.{p}").as_bytes(), &signature)
            .map_err(|_| "bad signature")?;
        let claims: Value = B64
            .decode(p)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .ok_or("bad claims")?;
        if claims["aud"].as_str() != Some(service) {
            return Err("token for another service");
        }
        let (Some(exp), Some(nbf)) = (claims["exp"].as_i64(), claims["nbf"].as_i64()) else {
            return Err("no validity period");
        };
        if now >= exp || now < nbf {
            return Err("expired or not yet valid");
        }
        let access = claims["access"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|e| {
                        Some(Scope {
                            kind: e["type"].as_str()?.to_string(),
                            name: e["name"].as_str()?.to_string(),
                            actions: e["actions"]
                                .as_array()?
                                .iter()
                                .filter_map(|x| x.as_str().map(str::to_string))
                                .collect(),
                        })
                    })
                    .collect()
            })
            .unwrap_or_default();
        Ok(Claims {
            subject: claims["sub"].as_str().unwrap_or_default().to_string(),
            access,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> TokenKeys {
        TokenKeys::from_pkcs8(&TokenKeys::generate()).unwrap()
    }

    #[test]
    fn scopes_parse_like_pulp() {
        assert_eq!(
            Scope::parse("repository:stackhpc/kolla:pull,push"),
            Some(Scope {
                kind: "repository".into(),
                name: "stackhpc/kolla".into(),
                actions: vec!["pull".into(), "push".into()],
            })
        );
        assert_eq!(
            Scope::parse("registry:catalog:*").unwrap().actions,
            vec!["*"]
        );
        assert_eq!(Scope::parse("repository:a:b:pull"), None);
        assert_eq!(Scope::parse("repository:pull"), None);
    }

    #[test]
    fn issued_tokens_verify_and_carry_their_grants() {
        let k = keys();
        let scope = Scope::parse("repository:a/b:pull").unwrap();
        let t = k.issue("http://h/token/", "h:1", "alice", &[scope], 1000);
        let c = k.verify(&t, "h:1", 1001).unwrap();
        assert_eq!(c.subject, "alice");
        assert!(c.allows("repository", "a/b", "pull"));
        assert!(!c.allows("repository", "a/b", "push"));
        assert!(!c.allows("repository", "a/c", "pull"));
        // another service, expired, not yet valid
        assert!(k.verify(&t, "other:1", 1001).is_err());
        assert!(k.verify(&t, "h:1", 1000 + TOKEN_TTL_SECONDS).is_err());
        assert!(k.verify(&t, "h:1", 999).is_err());
    }

    #[test]
    fn tampered_or_foreign_tokens_are_refused() {
        let k = keys();
        let t = k.issue("i", "s", "alice", &[], 1000);
        // claims swapped for a superuser's, signature kept
        let mut parts: Vec<&str> = t.split('.').collect();
        let forged = B64.encode(
            json!({"access": [], "aud": "s", "exp": 2000, "nbf": 0, "sub": "admin"}).to_string(),
        );
        parts[1] = &forged;
        assert_eq!(k.verify(&parts.join("."), "s", 1001), Err("bad signature"));
        // signed by another depot
        assert_eq!(keys().verify(&t, "s", 1001), Err("bad signature"));
        assert!(k.verify("a.b", "s", 1001).is_err());
    }

    #[test]
    fn key_ids_have_libtrusts_shape() {
        let k = keys();
        let groups: Vec<&str> = k.kid.split(':').collect();
        assert_eq!(groups.len(), 12);
        assert!(groups.iter().all(|g| g.len() == 4));
        assert_eq!(base32(b"foobar"), "MZXW6YTBOI");
    }
}
