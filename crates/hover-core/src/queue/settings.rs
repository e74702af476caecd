//! A queue function's worker settings, from the manifest entry its name points to:
//! the function `<manifest name>-<queue>-queue` reads `manifest.queue.<queue>`, as Hover
//! names and configures its queue functions.
//!
//! Only the settings Laravel's worker takes are read (`tries`, `backoff`, `timeout`,
//! `memory`); where the entry is silent, the PHP side applies `queue:work`'s defaults. Each
//! is checked here, so that a typo is an init error naming the field, not a job that runs
//! with a setting Laravel silently read as 0.

use serde_json::{Map, Value};

/// The settings of one queue function.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueSettings {
    /// The entry's name: `default` for the function `shop-production-default-queue` of the
    /// manifest `shop-production`.
    pub name: String,
    /// Attempts before a job fails (0: unlimited).
    pub tries: Option<u32>,
    /// Seconds before a job that threw comes back: one number, or one per attempt
    /// (`"5, 10"`), as `queue:work --backoff` takes them.
    pub backoff: Option<String>,
    /// Seconds a job may run (0: no limit but the invocation's).
    pub timeout: Option<u32>,
    /// Megabytes of memory after which the worker stops (and the runtime restarts).
    pub memory: Option<u32>,
}

impl QueueSettings {
    /// The settings of the function `function_name` in the manifest named `manifest_name`
    /// with the `queue` map `entries`; the error says which entry it looked for and which
    /// there are.
    pub fn for_function(
        manifest_name: &str,
        entries: Option<&Map<String, Value>>,
        function_name: Option<&str>,
    ) -> Result<Self, String> {
        let Some(function_name) = function_name else {
            return Err(
                "AWS_LAMBDA_FUNCTION_NAME is not set, so the queue function's entry in \"queue\" cannot be found"
                    .into(),
            );
        };
        let Some(name) = function_name
            .strip_prefix(manifest_name)
            .and_then(|rest| rest.strip_prefix('-'))
            .and_then(|rest| rest.strip_suffix("-queue"))
            .filter(|name| !name.is_empty())
        else {
            return Err(format!(
                "the queue function \"{function_name}\" is not named \"{manifest_name}-<queue>-queue\", so its entry in \"queue\" cannot be found"
            ));
        };
        let Some(entry) = entries.and_then(|entries| entries.get(name)) else {
            let known: Vec<&str> = entries
                .map(|entries| entries.keys().map(String::as_str).collect())
                .unwrap_or_default();
            return Err(format!(
                "the queue function \"{function_name}\" has no entry \"queue.{name}\" (entries: {})",
                if known.is_empty() {
                    "none".to_owned()
                } else {
                    known.join(", ")
                }
            ));
        };
        let Value::Object(entry) = entry else {
            return Err(format!("\"queue.{name}\" must be an object"));
        };
        let field = |field: &str| entry.get(field).filter(|value| !value.is_null());
        Ok(Self {
            tries: whole_number(name, "tries", field("tries"))?,
            backoff: backoff(name, field("backoff"))?,
            timeout: whole_number(name, "timeout", field("timeout"))?,
            memory: whole_number(name, "memory", field("memory"))?,
            name: name.to_owned(),
        })
    }
}

/// A whole number from 0 up, given as a number or as a string of digits.
fn whole_number(queue: &str, field: &str, value: Option<&Value>) -> Result<Option<u32>, String> {
    let number = match value {
        None => return Ok(None),
        Some(Value::Number(number)) => number.as_u64(),
        Some(Value::String(text)) => text.trim().parse::<u64>().ok(),
        Some(_) => None,
    };
    number
        .and_then(|number| u32::try_from(number).ok())
        .map(Some)
        .ok_or_else(|| format!("\"queue.{queue}.{field}\" must be a whole number from 0 up"))
}

/// Seconds between attempts: a number, or numbers joined by commas (`"5, 10"`).
fn backoff(queue: &str, value: Option<&Value>) -> Result<Option<String>, String> {
    let text = match value {
        None => return Ok(None),
        Some(Value::Number(number)) if number.as_u64().is_some() => number.to_string(),
        Some(Value::String(text)) => text.clone(),
        Some(_) => String::new(),
    };
    let delays: Option<Vec<u32>> = text
        .split(',')
        .map(|delay| delay.trim().parse::<u32>().ok())
        .collect();
    match delays {
        Some(delays) => Ok(Some(
            delays
                .iter()
                .map(u32::to_string)
                .collect::<Vec<_>>()
                .join(","),
        )),
        None => Err(format!(
            "\"queue.{queue}.backoff\" must be seconds from 0 up, one number or several joined by commas (\"5, 10\")"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn entries(value: Value) -> Map<String, Value> {
        let Value::Object(map) = value else {
            unreachable!()
        };
        map
    }

    #[test]
    fn the_function_name_picks_the_entry() {
        let queue = entries(json!({
            "default": {"memory": 512, "timeout": 120, "concurrency": 5, "tries": 3,
                        "backoff": "5, 10", "queues": ["default", "notifications"]},
            "priority": {"tries": "5", "backoff": 1},
        }));
        assert_eq!(
            QueueSettings::for_function(
                "shop-production",
                Some(&queue),
                Some("shop-production-default-queue")
            ),
            Ok(QueueSettings {
                name: "default".into(),
                tries: Some(3),
                backoff: Some("5,10".into()),
                timeout: Some(120),
                memory: Some(512),
            })
        );
        assert_eq!(
            QueueSettings::for_function(
                "shop-production",
                Some(&queue),
                Some("shop-production-priority-queue")
            ),
            Ok(QueueSettings {
                name: "priority".into(),
                tries: Some(5),
                backoff: Some("1".into()),
                timeout: None,
                memory: None,
            })
        );
    }

    #[test]
    fn a_queue_name_may_hold_dashes() {
        let queue = entries(json!({"mail-out": {}}));
        let settings =
            QueueSettings::for_function("shop", Some(&queue), Some("shop-mail-out-queue")).unwrap();
        assert_eq!(settings.name, "mail-out");
        assert_eq!(settings.tries, None);
    }

    #[test]
    fn a_missing_entry_names_the_function_and_the_entries() {
        let queue = entries(json!({"default": {}, "orders": {}}));
        assert_eq!(
            QueueSettings::for_function("shop", Some(&queue), Some("shop-emails-queue")),
            Err("the queue function \"shop-emails-queue\" has no entry \"queue.emails\" (entries: default, orders)".into())
        );
        assert_eq!(
            QueueSettings::for_function("shop", None, Some("shop-emails-queue")),
            Err("the queue function \"shop-emails-queue\" has no entry \"queue.emails\" (entries: none)".into())
        );
    }

    #[test]
    fn a_name_of_another_shape_is_refused() {
        let queue = entries(json!({"default": {}}));
        for name in [
            "other-default-queue",
            "shop-default",
            "shop--queue",
            "shopdefault-queue",
        ] {
            let error = QueueSettings::for_function("shop", Some(&queue), Some(name)).unwrap_err();
            assert!(
                error.contains("is not named \"shop-<queue>-queue\""),
                "{name}: {error}"
            );
        }
        assert!(
            QueueSettings::for_function("shop", Some(&queue), None)
                .unwrap_err()
                .starts_with("AWS_LAMBDA_FUNCTION_NAME is not set")
        );
    }

    #[test]
    fn wrong_values_are_named() {
        let cases = [
            (json!({"q": []}), "\"queue.q\" must be an object"),
            (
                json!({"q": {"tries": -1}}),
                "\"queue.q.tries\" must be a whole number from 0 up",
            ),
            (
                json!({"q": {"timeout": 1.5}}),
                "\"queue.q.timeout\" must be a whole number from 0 up",
            ),
            (
                json!({"q": {"memory": "lots"}}),
                "\"queue.q.memory\" must be a whole number from 0 up",
            ),
            (
                json!({"q": {"tries": 4294967296u64}}),
                "\"queue.q.tries\" must be a whole number from 0 up",
            ),
        ];
        for (queue, expected) in cases {
            assert_eq!(
                QueueSettings::for_function("s", Some(&entries(queue.clone())), Some("s-q-queue")),
                Err(expected.to_owned()),
                "{queue}"
            );
        }
        for backoff in [
            json!("5,,10"),
            json!("-5"),
            json!("five"),
            json!(["5"]),
            json!(1.5),
        ] {
            let error = QueueSettings::for_function(
                "s",
                Some(&entries(json!({"q": {"backoff": backoff}}))),
                Some("s-q-queue"),
            )
            .unwrap_err();
            assert!(
                error.starts_with("\"queue.q.backoff\" must be seconds"),
                "{error}"
            );
        }
    }

    #[test]
    fn null_is_silence() {
        let queue = entries(json!({"q": {"tries": null, "backoff": null}}));
        let settings = QueueSettings::for_function("s", Some(&queue), Some("s-q-queue")).unwrap();
        assert_eq!((settings.tries, settings.backoff), (None, None));
    }
}
