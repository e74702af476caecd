//! The two on-disk formats of a secrets file, as bytes: no keys, no crypto.
//!
//! - **v2**, written by `hover-secrets`: one line of text,
//!   `hover-secrets:v2:<KMS key id>:<wrapped data key>:<nonce>:<ciphertext>`, the last three
//!   in standard padded base64. The ciphertext is AES-256-GCM with the 16-byte tag at its end,
//!   and everything before it (the header, up to and including its last `:`) is the GCM
//!   associated data, so a change to any byte is caught: in the header by the tag, in the
//!   wrapped key by KMS, in the ciphertext by the tag, in the encoding by strict base64.
//!   The key id may itself hold `:` (an ARN), so the fields after it are taken from the right.
//! - **legacy**, written by the original Hover CLI:
//!   `hex(ciphertext)------hex(wrapped key)------hex(iv)`, AES-256-CBC with PKCS#7 padding
//!   and no authentication.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

/// What every v2 file starts with.
pub const V2_PREFIX: &str = "hover-secrets:v2:";
const MAGIC: &str = "hover-secrets:";
const LEGACY_SEPARATOR: &str = "------";
pub const NONCE_LEN: usize = 12;
pub const TAG_LEN: usize = 16;
pub const IV_LEN: usize = 16;

/// A secrets file, split into its parts.
#[derive(Debug, PartialEq, Eq)]
pub enum SecretsFile<'a> {
    V2 {
        key_id: &'a str,
        wrapped_key: Vec<u8>,
        nonce: [u8; NONCE_LEN],
        ciphertext: Vec<u8>,
        /// The header bytes, authenticated as GCM associated data.
        header: &'a [u8],
    },
    Legacy {
        ciphertext: Vec<u8>,
        wrapped_key: Vec<u8>,
        iv: [u8; IV_LEN],
    },
}

/// Why bytes are not a secrets file this runtime reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FormatError {
    /// Neither format, or a broken field: what is wrong, never the bytes themselves.
    Garbled(String),
    /// A `hover-secrets:` file of another version.
    UnknownVersion(String),
}

/// Which of the two formats a file is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    V2,
    Legacy,
}

impl Format {
    pub fn as_str(self) -> &'static str {
        match self {
            Format::V2 => "v2",
            Format::Legacy => "legacy",
        }
    }
}

impl SecretsFile<'_> {
    pub fn format(&self) -> Format {
        match self {
            SecretsFile::V2 { .. } => Format::V2,
            SecretsFile::Legacy { .. } => Format::Legacy,
        }
    }
}

/// Splits a file into its parts. Any bytes give a file or an error, never a panic.
pub fn parse(bytes: &[u8]) -> Result<SecretsFile<'_>, FormatError> {
    let garbled = |why: &str| FormatError::Garbled(why.to_owned());
    if let Some(after_magic) = bytes.strip_prefix(MAGIC.as_bytes()) {
        // The version is read before anything else, so that a file of a later version is
        // named as such whatever its other bytes are.
        let version = after_magic
            .split(|&b| matches!(b, b':' | b'\r' | b'\n'))
            .next()
            .unwrap_or_default();
        if version != b"v2" {
            return Err(match std::str::from_utf8(version) {
                Ok(version) if is_version(version) => FormatError::UnknownVersion(version.into()),
                _ => garbled("its version field is not \"v\" and a number"),
            });
        }
        if !bytes.is_ascii() {
            return Err(garbled("it is not ASCII text"));
        }
        let text = std::str::from_utf8(bytes).map_err(|_| garbled("it is not ASCII text"))?;
        return parse_v2(text);
    }
    let text = std::str::from_utf8(bytes)
        .map_err(|_| garbled("it is neither a hover-secrets file nor the legacy hex format"))?;
    parse_legacy(text.trim_end_matches(|c: char| c.is_ascii_whitespace()))
}

/// `v` and one or more digits: the shape of a version this runtime may not know yet.
fn is_version(text: &str) -> bool {
    text.strip_prefix('v').is_some_and(|digits| {
        (1..=16).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit())
    })
}

fn parse_v2(text: &str) -> Result<SecretsFile<'_>, FormatError> {
    let garbled = |why: String| FormatError::Garbled(why);
    // One line, with at most one line break at its end: any other byte is part of a field.
    let body = text
        .strip_suffix("\r\n")
        .or_else(|| text.strip_suffix('\n'))
        .unwrap_or(text);
    let Some(fields) = body.strip_prefix(V2_PREFIX) else {
        return Err(garbled(
            "it ends after its version (the file is cut short)".into(),
        ));
    };
    let mut fields = fields.rsplitn(4, ':');
    let (Some(ciphertext), Some(nonce), Some(wrapped_key), Some(key_id)) =
        (fields.next(), fields.next(), fields.next(), fields.next())
    else {
        return Err(garbled(
            "a v2 file has six fields separated by \":\" (it may be cut short)".into(),
        ));
    };
    if !is_valid_key_id(key_id) {
        return Err(garbled("its KMS key id is empty or not printable".into()));
    }
    let decode = |field: &str, name: &str| {
        STANDARD
            .decode(field)
            .map_err(|_| garbled(format!("its {name} is not valid base64")))
    };
    let wrapped_key = decode(wrapped_key, "wrapped data key")?;
    let nonce: [u8; NONCE_LEN] = decode(nonce, "nonce")?
        .try_into()
        .map_err(|_| garbled(format!("its nonce is not {NONCE_LEN} bytes")))?;
    // The ciphertext field is the end of the body (the first field `rsplitn` gives), so
    // this strips exactly it; `unwrap_or` only keeps the code free of a panic path.
    let header = body.strip_suffix(ciphertext).unwrap_or(body).as_bytes();
    let ciphertext = decode(ciphertext, "ciphertext")?;
    if wrapped_key.is_empty() || ciphertext.len() < TAG_LEN {
        return Err(garbled("its wrapped key or ciphertext is too short".into()));
    }
    Ok(SecretsFile::V2 {
        key_id,
        wrapped_key,
        nonce,
        ciphertext,
        header,
    })
}

fn parse_legacy(text: &str) -> Result<SecretsFile<'_>, FormatError> {
    let garbled = |why: String| FormatError::Garbled(why);
    let parts: Vec<&str> = text.split(LEGACY_SEPARATOR).collect();
    let [ciphertext, wrapped_key, iv] = parts[..] else {
        return Err(garbled(
            "it is neither a hover-secrets file nor the legacy format (three hex fields separated by \"------\")".into(),
        ));
    };
    let decode = |field: &str, name: &str| {
        hex::decode(field).map_err(|_| garbled(format!("its legacy {name} is not hex")))
    };
    let ciphertext = decode(ciphertext, "ciphertext")?;
    let wrapped_key = decode(wrapped_key, "wrapped key")?;
    let iv: [u8; IV_LEN] = decode(iv, "iv")?
        .try_into()
        .map_err(|_| garbled(format!("its legacy iv is not {IV_LEN} bytes")))?;
    if ciphertext.is_empty() || ciphertext.len() % 16 != 0 || wrapped_key.is_empty() {
        return Err(garbled(
            "its legacy ciphertext is not whole AES blocks, or its wrapped key is empty".into(),
        ));
    }
    Ok(SecretsFile::Legacy {
        ciphertext,
        wrapped_key,
        iv,
    })
}

/// Whether a KMS key id (id, ARN or alias) can stand in a v2 header: printable, no spaces.
pub fn is_valid_key_id(key_id: &str) -> bool {
    !key_id.is_empty() && key_id.bytes().all(|b| b.is_ascii_graphic())
}

/// The header of a v2 file: everything the ciphertext's tag authenticates.
pub fn v2_header(key_id: &str, wrapped_key: &[u8], nonce: &[u8; NONCE_LEN]) -> String {
    format!(
        "{V2_PREFIX}{key_id}:{}:{}:",
        STANDARD.encode(wrapped_key),
        STANDARD.encode(nonce)
    )
}

/// A whole v2 file from its header and ciphertext.
pub fn v2_file(header: &str, ciphertext: &[u8]) -> Vec<u8> {
    format!("{header}{}\n", STANDARD.encode(ciphertext)).into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY_ARN: &str =
        "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab";

    #[test]
    fn a_v2_file_splits_into_its_fields_even_with_an_arn() {
        let header = v2_header(KEY_ARN, b"wrapped", &[7; NONCE_LEN]);
        let file = v2_file(&header, &[9; 40]);
        let SecretsFile::V2 {
            key_id,
            wrapped_key,
            nonce,
            ciphertext,
            header: parsed_header,
        } = parse(&file).unwrap()
        else {
            panic!("not v2");
        };
        assert_eq!(key_id, KEY_ARN);
        assert_eq!(wrapped_key, b"wrapped");
        assert_eq!(nonce, [7; NONCE_LEN]);
        assert_eq!(ciphertext, vec![9; 40]);
        assert_eq!(parsed_header, header.as_bytes());
        let without_newline = &file[..file.len() - 1];
        assert!(parse(without_newline).is_ok());
    }

    #[test]
    fn other_versions_are_named() {
        for (text, version) in [
            (&b"hover-secrets:v3:k:AA==:AA==:AA=="[..], "v3"),
            (b"hover-secrets:v10:anything", "v10"),
            (b"hover-secrets:v3", "v3"),
            (b"hover-secrets:v4\n", "v4"),
            (b"hover-secrets:v5:\xff\xfe not even text", "v5"),
        ] {
            assert_eq!(
                parse(text),
                Err(FormatError::UnknownVersion(version.into())),
                "{text:?}"
            );
        }
    }

    #[test]
    fn a_version_field_that_is_not_v_and_a_number_is_garbled() {
        for text in [
            &b"hover-secrets:"[..],
            b"hover-secrets:\n",
            b"hover-secrets:v",
            b"hover-secrets:V2:k:AA==:AA==:AA==",
            b"hover-secrets:v2x:k",
            b"hover-secrets:two:k",
            b"hover-secrets:v12345678901234567:k",
            b"hover-secrets:\xff:k",
        ] {
            assert!(
                matches!(parse(text), Err(FormatError::Garbled(_))),
                "{text:?}: {:?}",
                parse(text)
            );
        }
    }

    /// Regression: the first 16 bytes of a v2 file, `hover-secrets:v2`, made the parser
    /// slice past the end of the text (a panic, which PHP turns into an `\Error` at init).
    #[test]
    fn a_v2_file_cut_after_its_version_is_garbled() {
        for text in [
            &b"hover-secrets:v2"[..],
            b"hover-secrets:v2\n",
            b"hover-secrets:v2\r\n",
            b"hover-secrets:v2\r",
            b"hover-secrets:v2:",
            b"hover-secrets:v2:\n",
        ] {
            assert!(
                matches!(parse(text), Err(FormatError::Garbled(_))),
                "{text:?}: {:?}",
                parse(text)
            );
        }
    }

    /// Every prefix of a valid file is a file or an error, never a panic. A v2 prefix can
    /// only parse when it cuts the ciphertext at a whole base64 quantum (the tag then fails
    /// to authenticate it); anything shorter than the header and one tag is garbled.
    #[test]
    fn every_prefix_of_a_valid_file_parses_or_fails_without_a_panic() {
        let header = v2_header(KEY_ARN, &[3; 184], &[7; NONCE_LEN]);
        let v2 = v2_file(&header, &[9; 73]);
        let legacy = format!(
            "{}------{}------{}\n",
            "ab".repeat(48),
            "cd".repeat(184),
            "0f".repeat(16)
        )
        .into_bytes();
        for (file, format) in [(&v2, Format::V2), (&legacy, Format::Legacy)] {
            for end in 0..file.len() {
                let prefix = &file[..end];
                match parse(prefix) {
                    Err(FormatError::Garbled(_)) => {}
                    Err(other) => panic!("{format:?} prefix of {end} bytes: {other:?}"),
                    Ok(parsed) => {
                        assert_eq!(parsed.format(), format);
                        let long_enough = match format {
                            Format::V2 => header.len() + TAG_LEN * 4 / 3,
                            Format::Legacy => file.len() - 1,
                        };
                        assert!(
                            end >= long_enough,
                            "{format:?} prefix of {end} bytes parsed"
                        );
                    }
                }
            }
            assert!(parse(file).is_ok());
        }
    }

    #[test]
    fn broken_v2_fields_are_garbled() {
        let good = String::from_utf8(v2_file(
            &v2_header("alias/k", b"wrapped", &[1; NONCE_LEN]),
            &[2; 32],
        ))
        .unwrap();
        let broken = [
            good.replace("alias/k", ""),
            good.replace("alias/k", "alias k"),
            good.replacen(':', ";", 3),
            good.replace('\n', "\n\n"),
            good.replace('\n', " \n"),
            format!("{}:extra", good.trim_end()),
            v2_header("alias/k", b"w", &[1; NONCE_LEN]) + "AAAA\n",
        ];
        for text in broken {
            assert!(
                matches!(parse(text.as_bytes()), Err(FormatError::Garbled(_))),
                "{text:?}"
            );
        }
    }

    /// Base64 is decoded strictly (padding and trailing bits canonical): the ciphertext
    /// field is the one part the tag does not cover as text, so a lenient decoder would let
    /// its `=` go unnoticed. The fuzz target checks the same: only canonical files parse.
    #[test]
    fn base64_without_its_padding_is_garbled() {
        let header = v2_header("alias/k", b"wrapped", &[1; NONCE_LEN]);
        let good = String::from_utf8(v2_file(&header, &[2; 32])).unwrap();
        assert!(good.trim_end().ends_with('='), "{good}");
        for text in [
            good.trim_end().trim_end_matches('=').to_owned(),
            good.replacen("d3JhcHBlZA==", "d3JhcHBlZA", 1),
            good.replacen("d3JhcHBlZA==", "d3JhcHBlZB==", 1),
        ] {
            assert_ne!(text, good.trim_end());
            assert!(
                matches!(parse(text.as_bytes()), Err(FormatError::Garbled(_))),
                "{text:?}"
            );
        }
    }

    #[test]
    fn a_legacy_file_splits_into_hex_fields() {
        let text = format!(
            "{}------{}------{}\n",
            "ab".repeat(32),
            "cd".repeat(5),
            "0f".repeat(16)
        );
        assert_eq!(
            parse(text.as_bytes()),
            Ok(SecretsFile::Legacy {
                ciphertext: vec![0xab; 32],
                wrapped_key: vec![0xcd; 5],
                iv: [0x0f; IV_LEN],
            })
        );
    }

    #[test]
    fn anything_else_is_garbled() {
        for text in [
            &b""[..],
            b"APP_KEY=plaintext",
            b"abcd------ef",
            b"zz------cd------0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f",
            b"abab------cd------0f0f",
            b"\xff\xfe",
        ] {
            assert!(
                matches!(parse(text), Err(FormatError::Garbled(_))),
                "{text:?}"
            );
        }
    }
}
