//! `Manifest`: Hover's `manifest.json`, the part of it the runtime reads.
//!
//! The file is parsed by hand from a `serde_json::Value` rather than derived, so that every
//! error names the file and the field, e.g. `manifest.json: "environment" must be an object`,
//! which is what lands in `/init/error` and CloudWatch.

use std::fs;
use std::path::Path;

use serde_json::{Map, Value};

/// What the runtime takes from the manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Manifest {
    /// The application's name; secrets keys and queue functions are named after it.
    pub name: String,
    /// `environment`, in file order, values as strings.
    pub environment: Vec<(String, String)>,
    /// `build_details.id`, exported as `HOVER_BUILD_ID`.
    pub build_id: Option<String>,
    /// `queue`: the queue functions' entries, read by the queue function whose entry it is
    /// (see [`crate::queue::settings`]), so that one broken entry fails only its function.
    pub queue: Option<Map<String, Value>>,
}

/// A manifest that cannot be used; the message says where and what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestError(pub String);

impl Manifest {
    pub fn load(path: &Path) -> Result<Self, ManifestError> {
        let bytes = fs::read(path).map_err(|error| {
            ManifestError(format!("{}: cannot be read: {error}", path.display()))
        })?;
        Self::parse(&bytes)
            .map_err(|problem| ManifestError(format!("{}: {problem}", path.display())))
    }

    /// Parses the file's bytes; the error is the problem alone, without the file name.
    pub fn parse(bytes: &[u8]) -> Result<Self, String> {
        let document: Value =
            serde_json::from_slice(bytes).map_err(|error| format!("not valid JSON: {error}"))?;
        let Value::Object(document) = document else {
            return Err("the manifest must be a JSON object".into());
        };
        let name = match document.get("name") {
            None => return Err("\"name\" is missing".into()),
            Some(Value::String(name)) if !name.trim().is_empty() => name.clone(),
            Some(Value::String(_)) => return Err("\"name\" must not be empty".into()),
            Some(_) => return Err("\"name\" must be a string".into()),
        };
        let environment = match document.get("environment") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Object(variables)) => parse_environment(variables)?,
            Some(_) => return Err("\"environment\" must be an object".into()),
        };
        let build_id = match document.get("build_details") {
            None | Some(Value::Null) => None,
            Some(Value::Object(details)) => match details.get("id") {
                None | Some(Value::Null) => None,
                Some(Value::String(id)) if id.contains('\0') => {
                    return Err("\"build_details.id\" contains a NUL byte".into());
                }
                Some(Value::String(id)) => Some(id.clone()),
                Some(Value::Number(id)) => Some(id.to_string()),
                Some(_) => return Err("\"build_details.id\" must be a string or a number".into()),
            },
            Some(_) => return Err("\"build_details\" must be an object".into()),
        };
        let queue = match document.get("queue") {
            None | Some(Value::Null) => None,
            Some(Value::Object(entries)) => Some(entries.clone()),
            Some(_) => return Err("\"queue\" must be an object".into()),
        };
        Ok(Self {
            name,
            environment,
            build_id,
            queue,
        })
    }
}

fn parse_environment(variables: &Map<String, Value>) -> Result<Vec<(String, String)>, String> {
    variables
        .iter()
        .map(|(name, value)| {
            if name.is_empty() || name.contains(['=', '\0']) {
                return Err(format!(
                    "\"environment\" has an invalid variable name {name:?}"
                ));
            }
            let value = match value {
                Value::String(text) => text.clone(),
                Value::Number(number) => number.to_string(),
                Value::Bool(flag) => flag.to_string(),
                Value::Null => String::new(),
                _ => {
                    return Err(format!(
                        "\"environment.{name}\" must be a string, a number or a boolean"
                    ));
                }
            };
            if value.contains('\0') {
                return Err(format!("\"environment.{name}\" contains a NUL byte"));
            }
            Ok((name.clone(), value))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_name_environment_and_build_id() {
        let manifest = Manifest::parse(
            br#"{"name": "shop", "environment": {"APP_ENV": "production", "WORKERS": 4, "DEBUG": false, "EMPTY": null},
                 "build_details": {"id": "b-42", "time": 1}, "http": {"memory": 1024}, "queue": {}}"#,
        )
        .unwrap();
        assert_eq!(manifest.name, "shop");
        assert_eq!(
            manifest.environment,
            vec![
                ("APP_ENV".into(), "production".into()),
                ("WORKERS".into(), "4".into()),
                ("DEBUG".into(), "false".into()),
                ("EMPTY".into(), String::new()),
            ]
        );
        assert_eq!(manifest.build_id.as_deref(), Some("b-42"));
    }

    #[test]
    fn environment_and_build_details_are_optional() {
        let manifest = Manifest::parse(br#"{"name": "shop"}"#).unwrap();
        assert!(manifest.environment.is_empty());
        assert_eq!(manifest.build_id, None);
        let manifest =
            Manifest::parse(br#"{"name": "shop", "build_details": {"id": 17}}"#).unwrap();
        assert_eq!(manifest.build_id.as_deref(), Some("17"));
    }

    #[test]
    fn missing_fields_are_named() {
        assert_eq!(
            Manifest::parse(br#"{"environment": {}}"#),
            Err("\"name\" is missing".into())
        );
        assert_eq!(
            Manifest::parse(br#"{"name": "  "}"#),
            Err("\"name\" must not be empty".into())
        );
    }

    #[test]
    fn wrong_types_are_named() {
        let cases: [(&[u8], &str); 8] = [
            (
                br#"{"name": "a", "queue": []}"#,
                "\"queue\" must be an object",
            ),
            (br#"[1, 2]"#, "the manifest must be a JSON object"),
            (br#"{"name": 5}"#, "\"name\" must be a string"),
            (
                br#"{"name": "a", "environment": "APP_ENV=x"}"#,
                "\"environment\" must be an object",
            ),
            (
                br#"{"name": "a", "environment": {"LIST": [1]}}"#,
                "\"environment.LIST\" must be a string, a number or a boolean",
            ),
            (
                br#"{"name": "a", "environment": {"A=B": "x"}}"#,
                "\"environment\" has an invalid variable name \"A=B\"",
            ),
            (
                br#"{"name": "a", "build_details": "b-1"}"#,
                "\"build_details\" must be an object",
            ),
            (
                br#"{"name": "a", "build_details": {"id": {}}}"#,
                "\"build_details.id\" must be a string or a number",
            ),
        ];
        for (input, expected) in cases {
            assert_eq!(
                Manifest::parse(input),
                Err(expected.to_string()),
                "{}",
                String::from_utf8_lossy(input)
            );
        }
    }

    #[test]
    fn broken_json_says_where() {
        let error = Manifest::parse(b"{\"name\": \"a\",\n").unwrap_err();
        assert!(
            error.starts_with("not valid JSON: ") && error.contains("line 2"),
            "{error}"
        );
    }

    #[test]
    fn load_prefixes_the_path() {
        let dir = std::env::temp_dir().join(format!("hover-manifest-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let path = dir.join("manifest.json");
        fs::write(&path, br#"{"name": "a", "environment": 1}"#).unwrap();
        assert_eq!(
            Manifest::load(&path),
            Err(ManifestError(format!(
                "{}: \"environment\" must be an object",
                path.display()
            )))
        );
        let missing = dir.join("absent.json");
        let ManifestError(message) = Manifest::load(&missing).unwrap_err();
        assert!(
            message.starts_with(&format!("{}: cannot be read: ", missing.display())),
            "{message}"
        );
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_build_id_with_a_nul_byte_is_refused_as_no_environment_variable_can_hold_it() {
        let error = Manifest::parse(br#"{"name": "shop", "build_details": {"id": "b\u0000c"}}"#)
            .unwrap_err();
        assert_eq!(error, "\"build_details.id\" contains a NUL byte");
    }
}
