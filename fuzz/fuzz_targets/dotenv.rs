//! Dotenv text, as a decrypted secrets file holds it: parsing, then loading (with
//! `${NAME}` references resolved against a small environment).

#![no_main]

use hover_core::dotenv;
use libfuzzer_sys::fuzz_target;

fn is_valid_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.')
}

fuzz_target!(|data: &[u8]| {
    match dotenv::parse(data) {
        Ok(entries) => {
            assert!(entries.iter().all(|entry| is_valid_name(&entry.name)));
            let loaded = dotenv::load(&entries, |name| {
                (name == "HOME").then(|| "/home/${HOME}".to_owned())
            });
            for (name, value) in &loaded.variables {
                assert!(is_valid_name(name));
                assert!(!value.contains('\0'));
            }
        }
        Err(error) => {
            // An error names only a valid name, never other text of the line.
            assert!(error.name.as_deref().is_none_or(is_valid_name));
            let message = error.to_string();
            assert!(message.starts_with(&format!("line {}: ", error.line)));
        }
    }
});
