//! Tenants and API keys. Keys are stored as SHA-256 hashes; a presented key is hashed
//! and compared in constant time against every tenant (no early exit, so timing does
//! not reveal which tenant or how many bytes matched).

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tenant {
    pub name: String,
    /// Hex SHA-256 of the API key.
    pub key_sha256: String,
    /// Storage prefix, e.g. `tenants/acme/`; every key the tenant touches starts with it.
    pub prefix: String,
    /// `whsec_…` secret signing this tenant's client webhooks.
    pub webhook_secret: String,
    #[serde(default)]
    pub rate_limit_per_minute: Option<u32>,
    #[serde(default)]
    pub max_concurrent_jobs: Option<u32>,
}

impl Tenant {
    pub fn check(&self) -> Result<(), String> {
        let hex_ok = self.key_sha256.len() == 64 && self.key_sha256.bytes().all(|b| b.is_ascii_hexdigit());
        if !hex_ok {
            return Err(format!("tenant `{}`: key_sha256 must be 64 hex characters", self.name));
        }
        if !self.prefix.ends_with('/') || job_spec::media::check_key(&self.prefix).is_err() {
            return Err(format!("tenant `{}`: prefix must be a relative key ending in `/`", self.name));
        }
        // Decoded as `webhook::sign` decodes it, so a bad secret fails at load, not at the
        // first delivery.
        let decoded = self.webhook_secret.strip_prefix("whsec_").map(|b| STANDARD.decode(b));
        if !matches!(decoded, Some(Ok(k)) if !k.is_empty()) {
            return Err(format!(
                "tenant `{}`: webhook_secret must be `whsec_` followed by base64 (e.g. whsec_$(head -c 24 /dev/urandom | base64))",
                self.name
            ));
        }
        Ok(())
    }
}

/// Hex SHA-256 of a key (what `TENANTS` stores).
pub fn key_hash(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

/// The key from `X-API-Key` or `Authorization: Bearer`.
pub fn presented_key(x_api_key: Option<&str>, authorization: Option<&str>) -> Option<String> {
    if let Some(k) = x_api_key.map(str::trim).filter(|k| !k.is_empty()) {
        return Some(k.to_owned());
    }
    let auth = authorization?.trim();
    let (scheme, token) = auth.split_once(' ')?;
    (scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty()).then(|| token.trim().to_owned())
}

/// The tenant owning `key`, if any.
pub fn authenticate<'a>(tenants: &'a [Tenant], key: &str) -> Option<&'a Tenant> {
    let digest = Sha256::digest(key.as_bytes());
    let mut found = None;
    for t in tenants {
        let Ok(stored) = hex::decode(&t.key_sha256) else { continue };
        if bool::from(stored.as_slice().ct_eq(digest.as_slice())) && found.is_none() {
            found = Some(t);
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tenants() -> Vec<Tenant> {
        ["alpha", "beta"]
            .iter()
            .map(|n| Tenant {
                name: (*n).into(),
                key_sha256: key_hash(&format!("key-{n}")),
                prefix: format!("tenants/{n}/"),
                webhook_secret: "whsec_x".into(),
                rate_limit_per_minute: None,
                max_concurrent_jobs: None,
            })
            .collect()
    }

    #[test]
    fn finds_the_owner_of_a_key() {
        let t = tenants();
        assert_eq!(authenticate(&t, "key-beta").map(|t| t.name.as_str()), Some("beta"));
        assert_eq!(authenticate(&t, "key-alpha").map(|t| t.name.as_str()), Some("alpha"));
        assert!(authenticate(&t, "key-gamma").is_none());
        assert!(authenticate(&t, "").is_none());
        assert_eq!(key_hash("test"), "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08");
    }

    #[test]
    fn reads_either_header() {
        assert_eq!(presented_key(Some("k1"), Some("Bearer k2")).as_deref(), Some("k1"));
        assert_eq!(presented_key(None, Some("Bearer k2")).as_deref(), Some("k2"));
        assert_eq!(presented_key(None, Some("bearer  k3 ")).as_deref(), Some("k3"));
        assert_eq!(presented_key(None, Some("Basic abc")), None);
        assert_eq!(presented_key(Some(" "), None), None);
    }
}
