//! Stage secrets: the encrypted dotenv file `<runtime dir>/.env`.
//!
//! Decrypted in memory at init, before Laravel boots, from either format (see [`file`]):
//! the data key is unwrapped by KMS, the payload opened with AES, and the dotenv text parsed.
//! Plaintext and key material live only in buffers that are zeroed when dropped; nothing is
//! written anywhere. Every failure is a [`SecretsError`] that says what to do and carries no
//! secret. The same functions serve the `hover-secrets` tool.

#[cfg(feature = "aws")]
pub mod aws_kms;
pub mod cipher;
pub mod file;
pub mod kms;

use std::path::Path;

use zeroize::Zeroizing;

use crate::dotenv::{self, Entry};
use cipher::KEY_LEN;
use file::{Format, FormatError, SecretsFile};
use kms::{KeyService, KmsError, KmsErrorKind};

/// The encryption-context name that binds a v2 file's data key to its stage.
pub const STAGE_CONTEXT: &str = "hover:stage";

/// The KMS key of a stage, as the original Hover CLI named it.
pub fn stage_key_alias(stage: &str) -> String {
    format!("alias/{stage}-secrets-key")
}

/// What went wrong with a secrets file, one kind per `Hover.Secrets*` error type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecretsErrorKind {
    /// The file exists but cannot be read.
    Unreadable,
    /// Neither format, or a broken field.
    Garbled,
    /// A `hover-secrets:vN` file of a version this runtime does not read.
    UnknownVersion,
    /// KMS denied the use of the key.
    AccessDenied,
    /// No such KMS key or alias.
    KeyNotFound,
    /// A v2 data key does not open for this stage.
    WrongStage,
    /// The data key was made by another KMS key, or is not a 32-byte key.
    KeyRejected,
    /// The KMS key is disabled or pending deletion.
    KeyUnusable,
    /// KMS could not be reached, or failed.
    KmsUnavailable,
    /// The payload fails authentication (v2) or padding (legacy).
    Tampered,
    /// The plaintext is not valid dotenv text.
    InvalidDotenv,
    /// A KMS key id that cannot stand in a v2 file (encrypting only).
    InvalidKey,
}

impl SecretsErrorKind {
    /// The error type reported to `/init/error` and by the tool.
    pub fn error_type(self) -> &'static str {
        match self {
            Self::Unreadable => "Hover.SecretsUnreadable",
            Self::Garbled => "Hover.SecretsGarbled",
            Self::UnknownVersion => "Hover.SecretsUnknownVersion",
            Self::AccessDenied => "Hover.SecretsAccessDenied",
            Self::KeyNotFound => "Hover.SecretsKeyNotFound",
            Self::WrongStage => "Hover.SecretsWrongStage",
            Self::KeyRejected => "Hover.SecretsKeyRejected",
            Self::KeyUnusable => "Hover.SecretsKeyUnusable",
            Self::KmsUnavailable => "Hover.SecretsKmsUnavailable",
            Self::Tampered => "Hover.SecretsTampered",
            Self::InvalidDotenv => "Hover.SecretsInvalidDotenv",
            Self::InvalidKey => "Hover.SecretsInvalidKey",
        }
    }
}

/// A secrets failure, for `/init/error` or the tool's stderr.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretsError {
    pub kind: SecretsErrorKind,
    /// What happened and what to do; never a secret value.
    pub message: String,
}

impl SecretsError {
    fn new(kind: SecretsErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
        }
    }

    /// The `Hover.Secrets*` error type of this failure.
    pub fn error_type(&self) -> &'static str {
        self.kind.error_type()
    }
}

impl std::fmt::Display for SecretsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.error_type(), self.message)
    }
}

impl std::error::Error for SecretsError {}

/// A decrypted secrets file.
#[derive(Debug)]
pub struct Secrets {
    pub entries: Vec<Entry>,
    pub format: Format,
}

/// Reads and decrypts the secrets file at `path`, if there is one, into dotenv entries.
/// `kms` is called only when a file exists, so that no client is made without need.
pub fn load<K: KeyService>(
    path: &Path,
    stage: &str,
    kms: impl FnOnce() -> Result<K, KmsError>,
) -> Result<Option<Secrets>, SecretsError> {
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(error) => {
            return Err(SecretsError::new(
                SecretsErrorKind::Unreadable,
                format!(
                    "cannot read the secrets file {}: {error}; the image must contain it, readable by the function",
                    path.display()
                ),
            ));
        }
    };
    let named = |error: SecretsError| SecretsError {
        message: format!("{}: {}", path.display(), error.message),
        ..error
    };
    let secrets_file = file::parse(&bytes).map_err(|error| named(format_error(error)))?;
    let kms = kms().map_err(|error| {
        named(SecretsError::new(
            SecretsErrorKind::KmsUnavailable,
            format!("cannot make a KMS client: {error}"),
        ))
    })?;
    let plaintext = open(&secrets_file, stage, &kms).map_err(named)?;
    let entries = parse_dotenv(&plaintext).map_err(named)?;
    Ok(Some(Secrets {
        entries,
        format: secrets_file.format(),
    }))
}

/// Decrypts a secrets file of either format for `stage`.
pub fn decrypt(
    bytes: &[u8],
    stage: &str,
    kms: &impl KeyService,
) -> Result<Zeroizing<Vec<u8>>, SecretsError> {
    open(&file::parse(bytes).map_err(format_error)?, stage, kms)
}

/// Encrypts dotenv text into a v2 file for `stage` under the KMS key `key_id`. Text that
/// is not valid dotenv is refused, so that a broken file is found before it is deployed.
pub fn encrypt(
    plaintext: &[u8],
    key_id: &str,
    stage: &str,
    kms: &impl KeyService,
) -> Result<Vec<u8>, SecretsError> {
    parse_dotenv(plaintext)?;
    if !file::is_valid_key_id(key_id) {
        return Err(SecretsError::new(
            SecretsErrorKind::InvalidKey,
            "the KMS key id must be printable text without spaces",
        ));
    }
    let data_key = kms
        .generate_data_key(key_id, &[(STAGE_CONTEXT, stage)])
        .map_err(|error| kms_error(error, key_id, stage, Format::V2))?;
    let key = data_key_array(&data_key.plaintext, key_id)?;
    let nonce = cipher::random_nonce();
    let header = file::v2_header(key_id, &data_key.wrapped, &nonce);
    let ciphertext = cipher::seal(&key, &nonce, header.as_bytes(), plaintext);
    Ok(file::v2_file(&header, &ciphertext))
}

fn open(
    secrets_file: &SecretsFile,
    stage: &str,
    kms: &impl KeyService,
) -> Result<Zeroizing<Vec<u8>>, SecretsError> {
    let format = secrets_file.format();
    match secrets_file {
        SecretsFile::V2 {
            key_id,
            wrapped_key,
            nonce,
            ciphertext,
            header,
        } => {
            let data_key = kms
                .decrypt(key_id, wrapped_key, &[(STAGE_CONTEXT, stage)])
                .map_err(|error| kms_error(error, key_id, stage, format))?;
            let key = data_key_array(&data_key, key_id)?;
            cipher::open(&key, nonce, header, ciphertext).map_err(|_| {
                SecretsError::new(
                    SecretsErrorKind::Tampered,
                    "the secrets file fails authentication: it was altered after it was encrypted; restore it, or encrypt the plain file again with hover-secrets encrypt",
                )
            })
        }
        SecretsFile::Legacy {
            ciphertext,
            wrapped_key,
            iv,
        } => {
            let alias = stage_key_alias(stage);
            let data_key = kms
                .decrypt(&alias, wrapped_key, &[])
                .map_err(|error| kms_error(error, &alias, stage, format))?;
            let key = data_key_array(&data_key, &alias)?;
            cipher::open_legacy(&key, iv, ciphertext).map_err(|_| {
                SecretsError::new(
                    SecretsErrorKind::Tampered,
                    "the legacy secrets file does not decrypt with its data key: it was altered; restore it, or re-encrypt it with hover-secrets",
                )
            })
        }
    }
}

fn data_key_array(data_key: &[u8], key_id: &str) -> Result<Zeroizing<[u8; KEY_LEN]>, SecretsError> {
    let mut key = Zeroizing::new([0; KEY_LEN]);
    if data_key.len() != KEY_LEN {
        return Err(SecretsError::new(
            SecretsErrorKind::KeyRejected,
            format!(
                "KMS key {key_id} unwrapped a {}-byte data key; a secrets data key is {KEY_LEN} bytes, so the file was not made for this key",
                data_key.len()
            ),
        ));
    }
    key.copy_from_slice(data_key);
    Ok(key)
}

fn parse_dotenv(plaintext: &[u8]) -> Result<Vec<Entry>, SecretsError> {
    dotenv::parse(plaintext).map_err(|error| {
        SecretsError::new(
            SecretsErrorKind::InvalidDotenv,
            format!("the secrets are not valid dotenv text: {error}"),
        )
    })
}

fn format_error(error: FormatError) -> SecretsError {
    match error {
        FormatError::Garbled(why) => SecretsError::new(
            SecretsErrorKind::Garbled,
            format!(
                "the secrets file is garbled: {why}; encrypt the plain file again with hover-secrets encrypt"
            ),
        ),
        FormatError::UnknownVersion(version) => SecretsError::new(
            SecretsErrorKind::UnknownVersion,
            format!(
                "the secrets file has format version \"{version}\", which this runtime does not read (it reads v2 and the legacy format); encrypt it with this runtime's hover-secrets, or update the runtime"
            ),
        ),
    }
}

fn kms_error(error: KmsError, key_id: &str, stage: &str, format: Format) -> SecretsError {
    let (kind, what) = match error.kind {
        KmsErrorKind::AccessDenied => (
            SecretsErrorKind::AccessDenied,
            format!(
                "KMS denied the use of key {key_id} for stage {stage}: allow kms:Decrypt (and kms:GenerateDataKey to encrypt) on that key to the function's role"
            ),
        ),
        KmsErrorKind::NotFound => (
            SecretsErrorKind::KeyNotFound,
            format!(
                "the KMS key {key_id} of stage {stage} does not exist in this account and region: create it, or encrypt the secrets for an existing key"
            ),
        ),
        KmsErrorKind::InvalidCiphertext if format == Format::V2 => (
            SecretsErrorKind::WrongStage,
            format!(
                "KMS key {key_id} refused the data key for stage {stage}: the file was encrypted for another stage (its encryption context names the stage) or its key was altered; encrypt it for this stage with hover-secrets encrypt --stage {stage}"
            ),
        ),
        KmsErrorKind::InvalidCiphertext | KmsErrorKind::IncorrectKey => (
            SecretsErrorKind::KeyRejected,
            format!(
                "KMS key {key_id} of stage {stage} did not make this file's data key: the file belongs to another key or stage, or was altered"
            ),
        ),
        KmsErrorKind::KeyUnusable => (
            SecretsErrorKind::KeyUnusable,
            format!(
                "the KMS key {key_id} of stage {stage} cannot be used now (disabled, pending deletion, or not a symmetric encryption key): enable it"
            ),
        ),
        KmsErrorKind::Unavailable => (
            SecretsErrorKind::KmsUnavailable,
            format!("KMS could not be used with key {key_id} for stage {stage}"),
        ),
    };
    SecretsError::new(kind, format!("{what} ({})", error.detail))
}

#[cfg(test)]
mod tests {
    use super::*;
    use kms::DataKey;

    /// An in-process stand-in for KMS in these unit tests of the file format: it wraps data
    /// keys with AES-GCM under a fixed master key, bound to the key id and context, as KMS
    /// binds its ciphertext blobs. The real KMS path runs against moto in the end-to-end tests.
    struct LocalKeys;

    const MASTER: [u8; KEY_LEN] = [0x5a; KEY_LEN];
    const KEY_ID: &str = "alias/shop-secrets-key";

    fn binding(key_id: &str, context: &kms::EncryptionContext) -> Vec<u8> {
        format!("{key_id}|{context:?}").into_bytes()
    }

    impl KeyService for LocalKeys {
        fn generate_data_key(
            &self,
            key_id: &str,
            context: &kms::EncryptionContext,
        ) -> Result<DataKey, KmsError> {
            let plaintext = Zeroizing::new(cipher::random_nonce().repeat(3)[..KEY_LEN].to_vec());
            let nonce = cipher::random_nonce();
            let mut wrapped = nonce.to_vec();
            wrapped.extend(cipher::seal(
                &MASTER,
                &nonce,
                &binding(key_id, context),
                &plaintext,
            ));
            Ok(DataKey { plaintext, wrapped })
        }

        fn decrypt(
            &self,
            key_id: &str,
            wrapped: &[u8],
            context: &kms::EncryptionContext,
        ) -> Result<Zeroizing<Vec<u8>>, KmsError> {
            let refused = KmsError {
                kind: KmsErrorKind::InvalidCiphertext,
                detail: "InvalidCiphertextException".into(),
            };
            if wrapped.len() < 12 {
                return Err(refused);
            }
            let nonce: [u8; 12] = wrapped[..12].try_into().unwrap();
            cipher::open(&MASTER, &nonce, &binding(key_id, context), &wrapped[12..])
                .map_err(|_| refused)
        }
    }

    const PLAINTEXT: &[u8] = b"APP_KEY=base64:c2VjcmV0\nDB_PASSWORD=\"p@ss\"\n";

    /// The one place the error types are spelled: they are the contract with users' alarms
    /// and the README's table; everything else compares kinds.
    #[test]
    fn each_kind_has_its_error_type() {
        use SecretsErrorKind::*;
        let kinds = [
            (Unreadable, "Hover.SecretsUnreadable"),
            (Garbled, "Hover.SecretsGarbled"),
            (UnknownVersion, "Hover.SecretsUnknownVersion"),
            (AccessDenied, "Hover.SecretsAccessDenied"),
            (KeyNotFound, "Hover.SecretsKeyNotFound"),
            (WrongStage, "Hover.SecretsWrongStage"),
            (KeyRejected, "Hover.SecretsKeyRejected"),
            (KeyUnusable, "Hover.SecretsKeyUnusable"),
            (KmsUnavailable, "Hover.SecretsKmsUnavailable"),
            (Tampered, "Hover.SecretsTampered"),
            (InvalidDotenv, "Hover.SecretsInvalidDotenv"),
            (InvalidKey, "Hover.SecretsInvalidKey"),
        ];
        for (kind, error_type) in kinds {
            assert_eq!(kind.error_type(), error_type);
            let error = SecretsError::new(kind, "what to do");
            assert_eq!(error.to_string(), format!("{error_type}: what to do"));
        }
    }

    #[test]
    fn v2_round_trips() {
        let sealed = encrypt(PLAINTEXT, KEY_ID, "shop", &LocalKeys).unwrap();
        assert!(sealed.starts_with(b"hover-secrets:v2:alias/shop-secrets-key:"));
        assert!(!sealed.windows(8).any(|w| w == b"c2VjcmV0"));
        let opened = decrypt(&sealed, "shop", &LocalKeys).unwrap();
        assert_eq!(opened.as_slice(), PLAINTEXT);
    }

    #[test]
    fn every_single_byte_change_is_rejected() {
        let sealed = encrypt(PLAINTEXT, KEY_ID, "shop", &LocalKeys).unwrap();
        for index in 0..sealed.len() {
            for replacement in [sealed[index] ^ 0x01, sealed[index] ^ 0x80, b'A', b'\n'] {
                if replacement == sealed[index] {
                    continue;
                }
                let mut altered = sealed.clone();
                altered[index] = replacement;
                assert!(
                    decrypt(&altered, "shop", &LocalKeys).is_err(),
                    "byte {index} set to {replacement:#04x} was accepted"
                );
            }
        }
    }

    #[test]
    fn every_cut_of_a_file_is_garbled_or_tampered() {
        let sealed = encrypt(PLAINTEXT, KEY_ID, "shop", &LocalKeys).unwrap();
        let ciphertext_at = sealed.iter().rposition(|&b| b == b':').unwrap() + 1;
        for end in 0..sealed.len() - 1 {
            let error = decrypt(&sealed[..end], "shop", &LocalKeys).unwrap_err();
            let expected = if end >= ciphertext_at && error.kind == SecretsErrorKind::Tampered {
                SecretsErrorKind::Tampered
            } else {
                SecretsErrorKind::Garbled
            };
            assert_eq!(error.kind, expected, "cut at {end}: {error}");
        }
        let error = decrypt(&sealed[..16], "shop", &LocalKeys).unwrap_err();
        assert_eq!(error.kind, SecretsErrorKind::Garbled);
        assert!(error.message.contains("cut short"), "{error}");
    }

    #[test]
    fn another_stage_cannot_open_the_file() {
        let sealed = encrypt(PLAINTEXT, KEY_ID, "shop", &LocalKeys).unwrap();
        let error = decrypt(&sealed, "shop-staging", &LocalKeys).unwrap_err();
        assert_eq!(error.kind, SecretsErrorKind::WrongStage);
        assert!(error.message.contains(KEY_ID), "{}", error.message);
        assert!(
            error.message.contains("stage shop-staging"),
            "{}",
            error.message
        );
    }

    #[test]
    fn each_kind_of_kms_failure_has_its_error_type_naming_key_and_stage() {
        let cases = [
            (
                KmsErrorKind::AccessDenied,
                Format::Legacy,
                SecretsErrorKind::AccessDenied,
            ),
            (
                KmsErrorKind::NotFound,
                Format::V2,
                SecretsErrorKind::KeyNotFound,
            ),
            (
                KmsErrorKind::InvalidCiphertext,
                Format::V2,
                SecretsErrorKind::WrongStage,
            ),
            (
                KmsErrorKind::InvalidCiphertext,
                Format::Legacy,
                SecretsErrorKind::KeyRejected,
            ),
            (
                KmsErrorKind::IncorrectKey,
                Format::V2,
                SecretsErrorKind::KeyRejected,
            ),
            (
                KmsErrorKind::KeyUnusable,
                Format::V2,
                SecretsErrorKind::KeyUnusable,
            ),
            (
                KmsErrorKind::Unavailable,
                Format::Legacy,
                SecretsErrorKind::KmsUnavailable,
            ),
        ];
        for (kind, format, expected) in cases {
            let error = KmsError {
                kind,
                detail: "KMS said why".into(),
            };
            let reported = kms_error(error, KEY_ID, "shop", format);
            assert_eq!(reported.kind, expected, "{kind:?}");
            for expected in [KEY_ID, "stage shop", "(KMS said why)"] {
                assert!(reported.message.contains(expected), "{}", reported.message);
            }
        }
    }

    #[test]
    fn a_tampered_ciphertext_is_reported_as_tampering() {
        // Inside the tag, away from the end: the base64 character just before the padding
        // carries unused bits, and setting one (an 'A' made 'B', one time in 16 with a
        // random tag) is refused as garbled by the strict decoder, not as tampering.
        let sealed = encrypt(PLAINTEXT, KEY_ID, "shop", &LocalKeys).unwrap();
        for position in [sealed.len() - 10, sealed.len() - 20] {
            let mut altered = sealed.clone();
            altered[position] = if altered[position] == b'A' {
                b'B'
            } else {
                b'A'
            };
            let error = decrypt(&altered, "shop", &LocalKeys).unwrap_err();
            assert_eq!(error.kind, SecretsErrorKind::Tampered);
        }
    }

    #[test]
    fn invalid_dotenv_is_refused_before_encrypting_and_after_decrypting() {
        let error = encrypt(b"A=1\nPASSWORD=top secret\n", KEY_ID, "shop", &LocalKeys).unwrap_err();
        assert_eq!(error.kind, SecretsErrorKind::InvalidDotenv);
        assert!(
            error.message.contains("line 2: PASSWORD"),
            "{}",
            error.message
        );
        assert!(!error.message.contains("top secret"), "{}", error.message);
    }

    #[test]
    fn load_reads_nothing_when_there_is_no_file_and_never_makes_a_client() {
        let loaded = load(
            Path::new("/nonexistent/hover/.env"),
            "shop",
            || -> Result<LocalKeys, KmsError> { panic!("no client without a file") },
        );
        assert!(matches!(loaded, Ok(None)));
    }

    #[test]
    fn load_names_the_file_in_errors() {
        let directory = std::env::temp_dir().join(format!("hover-secrets-{}", std::process::id()));
        std::fs::create_dir_all(&directory).unwrap();
        let path = directory.join(".env");
        std::fs::write(&path, b"DB_PASSWORD=hunter2").unwrap();
        let error = load(&path, "shop", || Ok(LocalKeys)).unwrap_err();
        assert_eq!(error.kind, SecretsErrorKind::Garbled);
        assert!(
            error.message.starts_with(&path.display().to_string()),
            "{}",
            error.message
        );
        assert!(!error.message.contains("hunter2"), "{}", error.message);
        std::fs::write(
            &path,
            encrypt(PLAINTEXT, KEY_ID, "shop", &LocalKeys).unwrap(),
        )
        .unwrap();
        let secrets = load(&path, "shop", || Ok(LocalKeys)).unwrap().unwrap();
        assert_eq!(secrets.format, Format::V2);
        let names: Vec<_> = secrets
            .entries
            .iter()
            .map(|entry| entry.name.as_str())
            .collect();
        assert_eq!(names, ["APP_KEY", "DB_PASSWORD"]);
        std::fs::remove_dir_all(directory).unwrap();
    }
}
