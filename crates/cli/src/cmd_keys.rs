//! `cairn keys`: create, list and show keys.

use crate::context::{passphrase, Context};
use anyhow::Result;
use cairn_types::SecretKey;
use clap::Subcommand;
use serde_json::json;

/// Key commands.
#[derive(Subcommand)]
pub(crate) enum KeysCommand {
    /// Create a new random key.
    New {
        /// Its name.
        name: String,
        /// Encrypt it with a passphrase (CAIRN_PASSPHRASE, else asked twice).
        #[arg(long)]
        encrypt: bool,
    },
    /// List local keys.
    List,
    /// Show a key's address, public key and did:key.
    Show {
        /// Its name.
        name: String,
    },
}

/// Runs a key command.
pub(crate) fn run(ctx: &Context, cmd: KeysCommand) -> Result<()> {
    let store = ctx.keystore();
    match cmd {
        KeysCommand::New { name, encrypt } => {
            let key = SecretKey::generate()?;
            let pass = if encrypt {
                passphrase(&name, true)?
            } else {
                None
            };
            let file = store.save(&name, &key, pass.as_deref())?;
            ctx.print(
                &json!({"name": file.name, "address": file.address, "encrypted": encrypt}),
                || format!("created key `{}`\naddress: {}", file.name, file.address),
            )
        }
        KeysCommand::List => {
            let keys = store.list()?;
            let rows: Vec<_> = keys
                .iter()
                .map(|k| json!({"name": k.name, "address": k.address, "encrypted": k.encryption.is_some()}))
                .collect();
            ctx.print(&rows, || {
                if keys.is_empty() {
                    return "no keys yet: `cairn keys new NAME`".to_string();
                }
                keys.iter()
                    .map(|k| {
                        let lock = if k.encryption.is_some() {
                            " (encrypted)"
                        } else {
                            ""
                        };
                        format!("{:<20} {}{lock}", k.name, k.address)
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            })
        }
        KeysCommand::Show { name } => {
            let file = store.read(&name)?;
            let public = hex::encode(file.address.0 .0);
            let did = file.address.0.to_did_key();
            ctx.print(
                &json!({"name": file.name, "address": file.address, "public_key": public, "did": did, "encrypted": file.encryption.is_some()}),
                || format!("name:       {}\naddress:    {}\npublic key: {public}\ndid:        {did}", file.name, file.address),
            )
        }
    }
}
