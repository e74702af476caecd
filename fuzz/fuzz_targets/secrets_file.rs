//! A secrets file (`<runtime dir>/.env`): the format parser, then the whole decryption
//! with a stand-in for KMS, so that the cipher and error paths see any bytes too.

#![no_main]

use hover_core::secrets::file::{self, SecretsFile};
use hover_core::secrets::kms::{DataKey, EncryptionContext, KeyService, KmsError, KmsErrorKind};
use hover_core::secrets::{self, SecretsErrorKind};
use libfuzzer_sys::fuzz_target;
use zeroize::Zeroizing;

/// Unwraps any wrapped key to a fixed 32-byte key, or fails with the kind its first byte
/// picks, or gives a key of another length: every answer KMS can give.
struct StandIn;

impl KeyService for StandIn {
    fn generate_data_key(&self, _: &str, _: &EncryptionContext) -> Result<DataKey, KmsError> {
        unreachable!("decrypting never makes a data key")
    }

    fn decrypt(
        &self,
        _: &str,
        wrapped: &[u8],
        _: &EncryptionContext,
    ) -> Result<Zeroizing<Vec<u8>>, KmsError> {
        let kind = match wrapped.first().map_or(0, |b| b % 10) {
            0 => KmsErrorKind::AccessDenied,
            1 => KmsErrorKind::NotFound,
            2 => KmsErrorKind::InvalidCiphertext,
            3 => KmsErrorKind::IncorrectKey,
            4 => KmsErrorKind::KeyUnusable,
            5 => KmsErrorKind::Unavailable,
            6 => return Ok(Zeroizing::new(wrapped.to_vec())),
            _ => return Ok(Zeroizing::new(b"6b2f0e4b8a1d93c7e5f0a2b4c6d8e0f1".to_vec())),
        };
        Err(KmsError {
            kind,
            detail: "stand-in".into(),
        })
    }
}

fuzz_target!(|data: &[u8]| {
    let parsed = file::parse(data);
    if let Ok(SecretsFile::V2 {
        key_id,
        wrapped_key,
        nonce,
        ciphertext,
        header,
    }) = &parsed
    {
        // The parser accepts only canonical files: writing the parts back gives the bytes.
        let written = file::v2_header(key_id, wrapped_key, nonce);
        assert_eq!(written.as_bytes(), *header);
        let whole = file::v2_file(&written, ciphertext);
        let body = &whole[..whole.len() - 1];
        assert!(
            data == body
                || data
                    .strip_prefix(body)
                    .is_some_and(|end| end == b"\n" || end == b"\r\n")
        );
    }
    match secrets::decrypt(data, "shop", &StandIn) {
        Ok(_) => assert!(parsed.is_ok()),
        Err(error) => {
            assert!(error.to_string().starts_with(error.kind.error_type()));
            if parsed.is_err() {
                assert!(matches!(
                    error.kind,
                    SecretsErrorKind::Garbled | SecretsErrorKind::UnknownVersion
                ));
            }
        }
    }
});
