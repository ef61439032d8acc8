//! The emulator's root credentials and account, made once per data folder and kept in
//! `<data>/aws-credentials` (mode 0600), an AWS shared-credentials file with one profile, so
//! every tool reads them the standard way:
//!
//! ```sh
//! AWS_SHARED_CREDENTIALS_FILE=target/dev-data/aws-credentials AWS_PROFILE=brain2-dev \
//!   cargo xtask deploy --env dev --endpoint-url http://127.0.0.1:8601
//! ```
//!
//! The account id is random too: under `AUTH=true` MiniStack derives each function's
//! credentials from its ARN, which holds the account, so a fixed `000000000000` would let
//! anyone compute them (the guard keeps pages out either way; this keeps other local users and
//! guessers out as well).

use std::io::Write as _;
use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, bail};
use rand_core::{OsRng, RngCore as _};

/// The file in the data folder.
pub const FILE: &str = "aws-credentials";
/// Its one profile.
pub const PROFILE: &str = "brain2-dev";

/// The root of the emulator's one account.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub account_id: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"<redacted>")
            .field("account_id", &self.account_id)
            .finish()
    }
}

fn random_from(alphabet: &[u8], length: usize) -> String {
    let mut bytes = vec![0u8; length];
    OsRng.fill_bytes(&mut bytes);
    // 256 is a multiple of neither alphabet's size; the bias (< 1 %) does not matter for keys
    // this long.
    bytes.iter().map(|b| alphabet[usize::from(*b) % alphabet.len()] as char).collect()
}

pub fn path(data: &Path) -> PathBuf {
    data.join(FILE)
}

/// MiniStack's default account: where data folders made before per-folder accounts keep their
/// state.
pub const LEGACY_ACCOUNT: &str = "000000000000";

impl Credentials {
    fn new(account_id: String) -> Self {
        const UPPER_DIGITS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
        const SECRET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        Credentials {
            access_key_id: format!("AKIA{}", random_from(UPPER_DIGITS, 16)),
            secret_access_key: random_from(SECRET, 40),
            account_id,
        }
    }

    /// The folder's credentials, made (and written privately) the first time. A folder that
    /// already holds emulator state without them was made before per-folder accounts: it keeps
    /// the account its state lives in (MiniStack's default), or its memories would vanish.
    pub fn load_or_create(data: &Path) -> Result<Self> {
        if path(data).exists() {
            return Self::load(data);
        }
        let legacy = std::fs::read_dir(data.join("emulator-state"))
            .map(|entries| entries.flatten().any(|e| e.path().extension().is_some_and(|x| x == "json")))
            .unwrap_or(false);
        let account = if legacy {
            eprintln!(
                "dev: {} holds state made before data folders had accounts of their own; it keeps account {LEGACY_ACCOUNT}, whose function credentials anyone can compute (the guard still keeps web pages out). Start with --fresh for an account of its own",
                data.display()
            );
            LEGACY_ACCOUNT.to_owned()
        } else {
            format!("{}{}", random_from(b"123456789", 1), random_from(b"0123456789", 11))
        };
        let credentials = Self::new(account);
        credentials.write(data)?;
        Ok(credentials)
    }

    /// Reads the folder's credentials; fails naming the file when they are missing, readable by
    /// others, or not what `cargo xtask dev` wrote.
    pub fn load(data: &Path) -> Result<Self> {
        let file = path(data);
        let metadata = std::fs::metadata(&file).with_context(|| {
            format!("no emulator credentials at {}; `cargo xtask dev` makes them when it starts", file.display())
        })?;
        if metadata.permissions().mode() & 0o077 != 0 {
            bail!("{} is readable by other users; run `chmod 600 {}`", file.display(), file.display());
        }
        let text = std::fs::read_to_string(&file).with_context(|| format!("reading {}", file.display()))?;
        let value = |key: &str| {
            text.lines()
                .filter_map(|line| line.split_once('='))
                .find(|(k, _)| k.trim() == key)
                .map(|(_, v)| v.trim().to_owned())
                .with_context(|| format!("{} has no {key}", file.display()))
        };
        Ok(Credentials {
            access_key_id: value("aws_access_key_id")?,
            secret_access_key: value("aws_secret_access_key")?,
            account_id: value("aws_account_id")?,
        })
    }

    fn write(&self, data: &Path) -> Result<()> {
        let file = path(data);
        let partial = data.join(format!(".{FILE}.partial"));
        let _ = std::fs::remove_file(&partial);
        let mut out = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&partial)
            .with_context(|| format!("writing {}", partial.display()))?;
        write!(
            out,
            "# cargo xtask dev's local emulator: the root of its account. Made for this data folder only.\n\
             [{PROFILE}]\naws_access_key_id = {}\naws_secret_access_key = {}\naws_account_id = {}\n",
            self.access_key_id, self.secret_access_key, self.account_id
        )?;
        out.sync_all()?;
        std::fs::rename(&partial, &file).with_context(|| format!("writing {}", file.display()))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn made_once_private_and_read_back() {
        let data = std::env::temp_dir().join(format!("brain2-credentials-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&data).unwrap();
        let made = Credentials::load_or_create(&data).unwrap();
        assert_eq!(std::fs::metadata(path(&data)).unwrap().permissions().mode() & 0o777, 0o600);
        assert_eq!(Credentials::load_or_create(&data).unwrap(), made);
        assert_eq!(made.account_id.len(), 12);
        assert!(made.access_key_id.starts_with("AKIA") && made.access_key_id.len() == 20);
        assert!(!format!("{made:?}").contains(&made.secret_access_key));
        let other = std::env::temp_dir().join(format!("brain2-credentials-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&other).unwrap();
        assert_ne!(Credentials::load_or_create(&other).unwrap(), made, "each folder has its own");

        std::fs::set_permissions(path(&data), std::fs::Permissions::from_mode(0o644)).unwrap();
        assert!(Credentials::load(&data).unwrap_err().to_string().contains("chmod 600"));

        // A folder with state from before per-folder accounts keeps MiniStack's default one.
        let legacy = std::env::temp_dir().join(format!("brain2-credentials-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(legacy.join("emulator-state")).unwrap();
        std::fs::write(legacy.join("emulator-state/dynamodb.json"), "{}").unwrap();
        assert_eq!(Credentials::load_or_create(&legacy).unwrap().account_id, LEGACY_ACCOUNT);
        for dir in [data, other, legacy] {
            std::fs::remove_dir_all(dir).unwrap();
        }
    }
}
