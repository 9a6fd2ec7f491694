//! What every command shares: where keys live, how to print, how to resolve names.

use crate::keystore::Keystore;
use anyhow::{Context as _, Result};
use cairn_types::{Address, PublicKey, SecretKey};
use serde::Serialize;
use std::path::PathBuf;

/// Shared settings of one invocation.
pub(crate) struct Context {
    /// The home directory (keys under `keys/`).
    pub(crate) home: PathBuf,
    /// Print JSON.
    pub(crate) json: bool,
}

impl Context {
    /// Settings from the global flags.
    pub(crate) fn new(home: Option<PathBuf>, json: bool) -> Context {
        let home = home.unwrap_or_else(|| {
            std::env::var_os("HOME")
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from("."))
                .join(".cairn")
        });
        Context { home, json }
    }

    /// The keystore.
    pub(crate) fn keystore(&self) -> Keystore {
        Keystore::new(&self.home)
    }

    /// Unlocks a key by name, asking for its passphrase if it is encrypted
    /// (`CAIRN_PASSPHRASE`, else a prompt on the terminal).
    pub(crate) fn load_key(&self, name: &str) -> Result<SecretKey> {
        Ok(self
            .keystore()
            .load(name, || passphrase(name, false).ok().flatten())?)
    }

    /// An address given as `cairn1…` or as the name of a local key.
    pub(crate) fn address(&self, text: &str) -> Result<Address> {
        if let Ok(address) = text.parse::<Address>() {
            return Ok(address);
        }
        if text.starts_with("cairn1") {
            // Looks like an address: report the address error, not "no such key".
            return Err(text
                .parse::<Address>()
                .err()
                .map(anyhow::Error::from)
                .unwrap_or_else(|| anyhow::anyhow!("bad address")));
        }
        let file = self
            .keystore()
            .read(text)
            .with_context(|| format!("`{text}` is neither an address nor a local key name"))?;
        Ok(file.address)
    }

    /// A public key given as hex, `cairn1…`, `did:key:…` or the name of a local key.
    pub(crate) fn public_key(&self, text: &str) -> Result<PublicKey> {
        if let Ok(key) = text.parse::<PublicKey>() {
            return Ok(key);
        }
        Ok(self.address(text)?.0)
    }

    /// Prints a value: JSON with `--json`, else the text from `human`.
    pub(crate) fn print<T: Serialize>(
        &self,
        value: &T,
        human: impl FnOnce() -> String,
    ) -> Result<()> {
        if self.json {
            println!("{}", serde_json::to_string_pretty(value)?);
        } else {
            println!("{}", human());
        }
        Ok(())
    }
}

/// Reads a passphrase from `CAIRN_PASSPHRASE`, else from the terminal (twice when `confirm`).
pub(crate) fn passphrase(name: &str, confirm: bool) -> Result<Option<String>> {
    if let Ok(pass) = std::env::var("CAIRN_PASSPHRASE") {
        return Ok(Some(pass));
    }
    let first = rpassword::prompt_password(format!("passphrase for key `{name}`: "))
        .context("reading the passphrase (set CAIRN_PASSPHRASE when there is no terminal)")?;
    if confirm {
        let second = rpassword::prompt_password("repeat the passphrase: ")?;
        anyhow::ensure!(first == second, "the passphrases differ");
    }
    Ok(Some(first))
}
