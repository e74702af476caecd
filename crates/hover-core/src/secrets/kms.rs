//! KMS, for the data keys of secrets files: [`KeyService`] is the two calls the secrets
//! need, GenerateDataKey (encrypting) and Decrypt (unwrapping a data key), and
//! [`KmsError`] how they fail. `super::aws_kms::AwsKms` makes them with aws-sdk-kms.

use std::fmt;

use zeroize::Zeroizing;

/// KMS encryption context: name/value pairs bound to a wrapped key.
pub type EncryptionContext<'a> = [(&'a str, &'a str)];

/// A fresh data key: its plaintext and the same key wrapped by KMS.
pub struct DataKey {
    pub plaintext: Zeroizing<Vec<u8>>,
    pub wrapped: Vec<u8>,
}

/// The KMS calls secrets files need.
pub trait KeyService {
    /// A new AES-256 data key under `key_id`, bound to `context`.
    fn generate_data_key(
        &self,
        key_id: &str,
        context: &EncryptionContext,
    ) -> Result<DataKey, KmsError>;

    /// Unwraps a data key; KMS checks that `key_id` wrapped it under `context`.
    fn decrypt(
        &self,
        key_id: &str,
        wrapped: &[u8],
        context: &EncryptionContext,
    ) -> Result<Zeroizing<Vec<u8>>, KmsError>;
}

/// A failed KMS call, sorted by what the user has to do about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KmsError {
    pub kind: KmsErrorKind,
    /// KMS's code and message, or the transport's error. Never key material.
    pub detail: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KmsErrorKind {
    /// The caller may not use the key.
    AccessDenied,
    /// No such key or alias.
    NotFound,
    /// The wrapped key does not open: another encryption context, or altered bytes.
    InvalidCiphertext,
    /// The wrapped key was made by another key than the one named.
    IncorrectKey,
    /// The key exists but is disabled, pending deletion, or not for encryption.
    KeyUnusable,
    /// KMS could not be reached or failed.
    Unavailable,
}

impl fmt::Display for KmsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.detail)
    }
}
