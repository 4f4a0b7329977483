//! API keys: bearer tokens with a role, held only as sha256 hashes.
//!
//! - `read`: forecasts, classification, model metadata and inference, `/info`.
//! - `operate`: everything `read` may, plus schedule proposals and model reloads.
//!
//! Keys come from a file (`--keys FILE`: one key a line, `ROLE SHA256_HEX [LABEL]`, `#`
//! comments; `printf %s "$KEY" | sha256sum` gives the hash) and from the environment
//! (`HCP_API_KEYS="read:KEY,operate:KEY"`, hashed as they are read). A token is compared by its
//! hash against every key, in time that does not depend on where they differ.

use std::path::Path;

use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

/// What a key may do; `Operate` includes `Read`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    Read,
    Operate,
}

impl Role {
    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "read" => Some(Role::Read),
            "operate" => Some(Role::Operate),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Role::Read => "read",
            Role::Operate => "operate",
        }
    }
}

#[derive(Debug, Clone)]
struct Key {
    sha256: [u8; 32],
    role: Role,
    label: String,
}

/// The keys the server accepts. `open()` accepts any request with the operate role (for
/// `--no-auth` on a trusted loopback only).
#[derive(Debug, Clone, Default)]
pub struct ApiKeys {
    keys: Vec<Key>,
    open: bool,
}

fn hash(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

fn parse_hex(s: &str) -> Option<[u8; 32]> {
    if s.len() != 64 || !s.is_ascii() {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, b) in out.iter_mut().enumerate() {
        *b = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(out)
}

impl ApiKeys {
    pub fn open() -> ApiKeys {
        ApiKeys { keys: Vec::new(), open: true }
    }

    pub fn is_open(&self) -> bool {
        self.open
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Adds the keys of a keys file (`ROLE SHA256_HEX [LABEL]` per line).
    pub fn add_file(&mut self, path: &Path) -> Result<()> {
        let text = std::fs::read_to_string(path).map_err(|source| Error::Io { path: path.into(), source })?;
        let origin = path.display().to_string();
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let bad = |message: String| Error::Keys { origin: format!("{origin} line {}", n + 1), message };
            let mut parts = line.split_whitespace();
            let (role, hex) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
            let role =
                Role::parse(role).ok_or_else(|| bad(format!("role `{role}` is neither `read` nor `operate`")))?;
            let sha256 = parse_hex(hex).ok_or_else(|| bad("the key's hash is not 64 hex digits (sha256)".into()))?;
            let label = parts.collect::<Vec<_>>().join(" ");
            let label = if label.is_empty() { format!("line {}", n + 1) } else { label };
            self.push(Key { sha256, role, label }).map_err(bad)?;
        }
        Ok(())
    }

    /// Adds a key, refusing one already given: with two roles, which one a caller gets would
    /// be a guess (a `read` line added to take `operate` away would not take it away).
    fn push(&mut self, key: Key) -> std::result::Result<(), String> {
        if let Some(k) = self.keys.iter().find(|k| k.sha256 == key.sha256) {
            return Err(format!(
                "the key is already given (`{}`, as `{}`): give each key once",
                k.label,
                k.role.name()
            ));
        }
        self.keys.push(key);
        Ok(())
    }

    /// Adds keys given as `ROLE:KEY,ROLE:KEY` (the `HCP_API_KEYS` variable).
    pub fn add_env(&mut self, value: &str) -> Result<()> {
        for (i, entry) in value.split(',').map(str::trim).filter(|e| !e.is_empty()).enumerate() {
            let bad = |message: String| Error::Keys { origin: format!("HCP_API_KEYS entry {}", i + 1), message };
            let (role, key) = entry.split_once(':').ok_or_else(|| bad("expected ROLE:KEY".into()))?;
            let role =
                Role::parse(role).ok_or_else(|| bad(format!("role `{role}` is neither `read` nor `operate`")))?;
            if key.len() < 16 {
                return Err(bad(format!("the key has {} characters; at least 16 are required", key.len())));
            }
            self.push(Key { sha256: hash(key), role, label: format!("env {}", i + 1) }).map_err(bad)?;
        }
        Ok(())
    }

    /// The role of a bearer token, `None` when no key matches.
    pub fn role_of(&self, token: &str) -> Option<Role> {
        if self.open {
            return Some(Role::Operate);
        }
        let h = hash(token);
        let mut found = None;
        for k in &self.keys {
            let diff = k.sha256.iter().zip(&h).fold(0u8, |acc, (a, b)| acc | (a ^ b));
            if diff == 0 {
                found = found.max(Some(k.role));
            }
        }
        found
    }

    /// Labels and roles of the keys (for `/info`: never the hashes).
    pub fn describe(&self) -> Vec<(String, &'static str)> {
        self.keys.iter().map(|k| (k.label.clone(), k.role.name())).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_from_a_file_and_the_environment_match_by_hash() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys");
        // sha256("analyst-key-0123456789") computed with `printf %s KEY | sha256sum`.
        let hex: String = hash("analyst-key-0123456789").iter().map(|b| format!("{b:02x}")).collect();
        std::fs::write(&path, format!("# keys\nread {hex} analyst\n\n")).unwrap();
        let mut keys = ApiKeys::default();
        keys.add_file(&path).unwrap();
        keys.add_env("operate:operator-key-0123456789").unwrap();
        assert_eq!(keys.role_of("analyst-key-0123456789"), Some(Role::Read));
        assert_eq!(keys.role_of("operator-key-0123456789"), Some(Role::Operate));
        assert_eq!(keys.role_of("analyst-key-012345678"), None);
        assert_eq!(keys.role_of(""), None);
        assert_eq!(keys.describe()[0], ("analyst".to_string(), "read"));
    }

    #[test]
    fn bad_key_lines_name_where_they_are() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys");
        std::fs::write(&path, "read 00\n").unwrap();
        let err = ApiKeys::default().add_file(&path).unwrap_err().to_string();
        assert!(err.contains("line 1") && err.contains("64 hex"), "{err}");
        std::fs::write(&path, format!("admin {}\n", "0".repeat(64))).unwrap();
        let err = ApiKeys::default().add_file(&path).unwrap_err().to_string();
        assert!(err.contains("`admin`"), "{err}");
        let err = ApiKeys::default().add_env("read:short").unwrap_err().to_string();
        assert!(err.contains("entry 1") && err.contains("at least 16"), "{err}");
        // A key given twice is refused wherever the second comes from: with two roles, which
        // one a caller got was the higher.
        let hex: String = hash("operator-key-0123456789").iter().map(|b| format!("{b:02x}")).collect();
        std::fs::write(&path, format!("operate {hex} ops\nread {hex}\n")).unwrap();
        let err = ApiKeys::default().add_file(&path).unwrap_err().to_string();
        assert!(err.contains("line 2: the key is already given (`ops`, as `operate`)"), "{err}");
        let mut keys = ApiKeys::default();
        keys.add_env("read:operator-key-0123456789").unwrap();
        let err = keys.add_env("operate:operator-key-0123456789").unwrap_err().to_string();
        assert!(err.contains("entry 1: the key is already given (`env 1`, as `read`)"), "{err}");
    }
}
