//! `<runtime dir>/manifest.json`, as the image ships it.

#![no_main]

use hover_core::manifest::Manifest;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(manifest) = Manifest::parse(data) {
        assert!(!manifest.name.trim().is_empty());
        for (name, value) in &manifest.environment {
            // Names and values go to setenv: no '=' in a name, no NUL anywhere.
            assert!(!name.is_empty() && !name.contains(['=', '\0']));
            assert!(!value.contains('\0'));
        }
        // Exported as HOVER_BUILD_ID.
        assert!(!manifest.build_id.is_some_and(|id| id.contains('\0')));
    }
});
