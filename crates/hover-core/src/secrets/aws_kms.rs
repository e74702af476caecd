//! `AwsKms`: the [`KeyService`] of AWS's KMS, through aws-sdk-kms, configured as every AWS
//! SDK is (the standard credential chain, `AWS_REGION`, `AWS_ENDPOINT_URL_KMS` /
//! `AWS_ENDPOINT_URL`), on a single-threaded tokio runtime that lives only as long as the
//! client: the runtime creates it at init, when a secrets file exists, and drops it once
//! the file is open. Behind the `aws` feature, so that the parsers can be built (and
//! fuzzed) without the SDK.

use std::collections::HashMap;
use std::fmt;
use std::time::Duration;

use aws_config::BehaviorVersion;
use aws_config::timeout::TimeoutConfig;
use aws_sdk_kms::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::DataKeySpec;
use zeroize::Zeroizing;

use super::kms::{DataKey, EncryptionContext, KeyService, KmsError, KmsErrorKind};

/// How long one KMS call may take, retries included. Lambda gives init 10 s; a KMS that
/// cannot be reached must fail init with a message well before that, not be killed silently.
const OPERATION_TIMEOUT: Duration = Duration::from_secs(5);
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(2);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);

/// The SDK's form of an encryption context; none when it is empty.
fn context_map(context: &EncryptionContext) -> Option<HashMap<String, String>> {
    (!context.is_empty()).then(|| {
        context
            .iter()
            .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
            .collect()
    })
}

impl KmsError {
    /// Sorts an SDK error by what the user has to do about it.
    fn from_sdk<E, R>(error: SdkError<E, R>) -> Self
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
        R: fmt::Debug,
    {
        let kind = match error.code() {
            Some("AccessDeniedException") => KmsErrorKind::AccessDenied,
            Some("NotFoundException") => KmsErrorKind::NotFound,
            Some("InvalidCiphertextException") => KmsErrorKind::InvalidCiphertext,
            Some("IncorrectKeyException") => KmsErrorKind::IncorrectKey,
            Some(
                "DisabledException"
                | "KMSInvalidStateException"
                | "KeyUnavailableException"
                | "InvalidKeyUsageException",
            ) => KmsErrorKind::KeyUnusable,
            _ => KmsErrorKind::Unavailable,
        };
        let detail = match (error.code(), error.message()) {
            (Some(code), Some(message)) => format!("{code}: {message}"),
            (Some(code), None) => code.to_owned(),
            _ => DisplayErrorContext(&error).to_string(),
        };
        Self { kind, detail }
    }
}

/// KMS through aws-sdk-kms.
pub struct AwsKms {
    runtime: tokio::runtime::Runtime,
    client: aws_sdk_kms::Client,
}

impl AwsKms {
    /// A client configured from the environment, as every AWS SDK configures itself.
    pub fn from_environment() -> Result<Self, KmsError> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|error| KmsError {
                kind: KmsErrorKind::Unavailable,
                detail: format!("cannot start the KMS client: {error}"),
            })?;
        let timeouts = TimeoutConfig::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .operation_attempt_timeout(ATTEMPT_TIMEOUT)
            .operation_timeout(OPERATION_TIMEOUT)
            .build();
        let config = runtime.block_on(
            aws_config::defaults(BehaviorVersion::latest())
                .timeout_config(timeouts)
                .load(),
        );
        Ok(Self {
            client: aws_sdk_kms::Client::new(&config),
            runtime,
        })
    }
}

impl KeyService for AwsKms {
    fn generate_data_key(
        &self,
        key_id: &str,
        context: &EncryptionContext,
    ) -> Result<DataKey, KmsError> {
        let request = self
            .client
            .generate_data_key()
            .key_id(key_id)
            .key_spec(DataKeySpec::Aes256)
            .set_encryption_context(context_map(context));
        let output = self
            .runtime
            .block_on(request.send())
            .map_err(KmsError::from_sdk)?;
        let missing = |what: &str| KmsError {
            kind: KmsErrorKind::Unavailable,
            detail: format!("KMS GenerateDataKey returned no {what}"),
        };
        Ok(DataKey {
            plaintext: Zeroizing::new(
                output
                    .plaintext
                    .ok_or_else(|| missing("plaintext"))?
                    .into_inner(),
            ),
            wrapped: output
                .ciphertext_blob
                .ok_or_else(|| missing("ciphertext"))?
                .into_inner(),
        })
    }

    fn decrypt(
        &self,
        key_id: &str,
        wrapped: &[u8],
        context: &EncryptionContext,
    ) -> Result<Zeroizing<Vec<u8>>, KmsError> {
        let request = self
            .client
            .decrypt()
            .key_id(key_id)
            .ciphertext_blob(Blob::new(wrapped))
            .set_encryption_context(context_map(context));
        let output = self
            .runtime
            .block_on(request.send())
            .map_err(KmsError::from_sdk)?;
        output
            .plaintext
            .map(|plaintext| Zeroizing::new(plaintext.into_inner()))
            .ok_or_else(|| KmsError {
                kind: KmsErrorKind::Unavailable,
                detail: "KMS Decrypt returned no plaintext".into(),
            })
    }
}
