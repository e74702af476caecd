//! The symmetric ciphers of the two formats, on keys already unwrapped by KMS.
//!
//! AES-256-GCM for v2 files, AES-256-CBC with PKCS#7 padding for legacy ones (RustCrypto's
//! audited implementations). Plaintext comes back in a buffer that is zeroed when dropped.

use aes_gcm::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use cbc::cipher::block_padding::Pkcs7;
use cbc::cipher::{BlockDecryptMut, KeyIvInit};
use zeroize::Zeroizing;

use super::file::{IV_LEN, NONCE_LEN};

/// The key length of both formats: AES-256.
pub const KEY_LEN: usize = 32;

/// The ciphertext did not open: it, its header or its key is not what was sealed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unauthentic;

/// A fresh random nonce for one GCM encryption.
pub fn random_nonce() -> [u8; NONCE_LEN] {
    Aes256Gcm::generate_nonce(&mut OsRng).into()
}

/// Encrypts and authenticates `plaintext` and `aad` under a 32-byte key.
pub fn seal(key: &[u8; KEY_LEN], nonce: &[u8; NONCE_LEN], aad: &[u8], plaintext: &[u8]) -> Vec<u8> {
    Aes256Gcm::new(key.into())
        .encrypt(
            Nonce::from_slice(nonce),
            Payload {
                msg: plaintext,
                aad,
            },
        )
        .expect("AES-GCM encrypts any input under 64 GiB")
}

/// Checks and decrypts what [`seal`] made.
pub fn open(
    key: &[u8; KEY_LEN],
    nonce: &[u8; NONCE_LEN],
    aad: &[u8],
    ciphertext: &[u8],
) -> Result<Zeroizing<Vec<u8>>, Unauthentic> {
    Aes256Gcm::new(key.into())
        .decrypt(
            Nonce::from_slice(nonce),
            Payload {
                msg: ciphertext,
                aad,
            },
        )
        .map(Zeroizing::new)
        .map_err(|_| Unauthentic)
}

/// Decrypts a legacy file's ciphertext. CBC has no tag: a wrong key or an altered file
/// shows only as bad padding, or not at all.
pub fn open_legacy(
    key: &[u8; KEY_LEN],
    iv: &[u8; IV_LEN],
    ciphertext: &[u8],
) -> Result<Zeroizing<Vec<u8>>, Unauthentic> {
    let mut buffer = Zeroizing::new(ciphertext.to_vec());
    let length = cbc::Decryptor::<aes::Aes256>::new(key.into(), iv.into())
        .decrypt_padded_mut::<Pkcs7>(&mut buffer)
        .map_err(|_| Unauthentic)?
        .len();
    buffer.truncate(length);
    Ok(buffer)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Made with `openssl enc -aes-256-cbc -K <hex of the key text> -iv 000102…0f`, so that
    /// the expected plaintext does not come from this code. The key is what the original
    /// Hover CLI used: the 32-character hex text of 16 random bytes, as ASCII.
    const LEGACY_KEY: &[u8; KEY_LEN] = b"6b2f0e4b8a1d93c7e5f0a2b4c6d8e0f1";
    const LEGACY_IV: &str = "000102030405060708090a0b0c0d0e0f";
    const LEGACY_VECTORS: [(&str, &[u8]); 3] = [
        (
            "6ca78bf2517e0cdcb6b2316695be9f502437e789b6e8d44c151713efcb0335709b675ef3ff61dfd84a985f4bcaf1f9a3bff23d3e398f66346d66b960923a920f",
            b"APP_KEY=base64:legacy+key/=\nDB_PASSWORD=\"p@ss word\"\n",
        ),
        ("0dd0677db722280505b14d6d6194560b", b""),
        (
            "97b156371a84fb2f624efb4964b36fd1ce50ae9ecd712fd1d293a9bbda34f3d7",
            b"0123456789abcdef",
        ),
    ];

    fn iv() -> [u8; IV_LEN] {
        hex::decode(LEGACY_IV).unwrap().try_into().unwrap()
    }

    #[test]
    fn legacy_vectors_from_openssl_decrypt() {
        for (ciphertext, plaintext) in LEGACY_VECTORS {
            let ciphertext = hex::decode(ciphertext).unwrap();
            let opened = open_legacy(LEGACY_KEY, &iv(), &ciphertext).unwrap();
            assert_eq!(opened.as_slice(), plaintext);
        }
    }

    #[test]
    fn a_wrong_legacy_key_fails_or_gives_other_bytes() {
        let ciphertext = hex::decode(LEGACY_VECTORS[0].0).unwrap();
        let mut key = *LEGACY_KEY;
        key[0] ^= 1;
        match open_legacy(&key, &iv(), &ciphertext) {
            Err(Unauthentic) => {}
            Ok(opened) => assert_ne!(opened.as_slice(), LEGACY_VECTORS[0].1),
        }
    }

    #[test]
    fn gcm_round_trips_and_binds_the_associated_data() {
        let key = [42; KEY_LEN];
        let nonce = random_nonce();
        let sealed = seal(&key, &nonce, b"header", b"DB_PASSWORD=secret\n");
        assert_eq!(sealed.len(), b"DB_PASSWORD=secret\n".len() + 16);
        let opened = open(&key, &nonce, b"header", &sealed).unwrap();
        assert_eq!(opened.as_slice(), b"DB_PASSWORD=secret\n");
        assert_eq!(open(&key, &nonce, b"headex", &sealed), Err(Unauthentic));
        let mut other_key = key;
        other_key[31] ^= 0x80;
        assert_eq!(
            open(&other_key, &nonce, b"header", &sealed),
            Err(Unauthentic)
        );
    }

    #[test]
    fn nonces_are_fresh() {
        assert_ne!(random_nonce(), random_nonce());
    }
}
