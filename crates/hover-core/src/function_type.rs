//! `FunctionType`: which kind of Hover function this process serves (http, cli, queue).

use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FunctionType {
    Http,
    Cli,
    Queue,
}

impl FunctionType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Http => "http",
            Self::Cli => "cli",
            Self::Queue => "queue",
        }
    }

    fn parse(name: &str) -> Option<Self> {
        match name {
            "http" => Some(Self::Http),
            "cli" => Some(Self::Cli),
            "queue" => Some(Self::Queue),
            _ => None,
        }
    }

    /// `HOVER_FUNCTION_TYPE` when set, else the suffix Hover gives the function's name
    /// (`<app>-<stage>-http`, `…-cli`, `…-<queue>-queue`).
    pub fn resolve(function_name: Option<&str>, explicit: Option<&str>) -> Result<Self, String> {
        if let Some(explicit) = explicit {
            return Self::parse(explicit).ok_or_else(|| {
                format!("HOVER_FUNCTION_TYPE is \"{explicit}\"; it must be http, cli or queue")
            });
        }
        let name = function_name.ok_or(
            "AWS_LAMBDA_FUNCTION_NAME is not set; set HOVER_FUNCTION_TYPE to http, cli or queue",
        )?;
        name.rsplit_once('-').and_then(|(_, suffix)| Self::parse(suffix)).ok_or_else(|| {
            format!(
                "the function name \"{name}\" does not end in -http, -cli or -queue; set HOVER_FUNCTION_TYPE to http, cli or queue"
            )
        })
    }
}

impl fmt::Display for FunctionType {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_name_suffix_decides() {
        assert_eq!(
            FunctionType::resolve(Some("shop-production-http"), None),
            Ok(FunctionType::Http)
        );
        assert_eq!(
            FunctionType::resolve(Some("shop-production-cli"), None),
            Ok(FunctionType::Cli)
        );
        assert_eq!(
            FunctionType::resolve(Some("shop-production-emails-queue"), None),
            Ok(FunctionType::Queue)
        );
    }

    #[test]
    fn the_override_wins() {
        assert_eq!(
            FunctionType::resolve(Some("shop-production-http"), Some("cli")),
            Ok(FunctionType::Cli)
        );
        assert_eq!(
            FunctionType::resolve(None, Some("queue")),
            Ok(FunctionType::Queue)
        );
    }

    #[test]
    fn anything_else_is_an_error_that_names_the_fix() {
        let error = FunctionType::resolve(Some("shop-worker"), None).unwrap_err();
        assert!(
            error.contains("\"shop-worker\"") && error.contains("HOVER_FUNCTION_TYPE"),
            "{error}"
        );
        let error = FunctionType::resolve(Some("x-cli"), Some("web")).unwrap_err();
        assert!(error.contains("\"web\""), "{error}");
        assert!(
            FunctionType::resolve(None, None)
                .unwrap_err()
                .contains("AWS_LAMBDA_FUNCTION_NAME")
        );
    }
}
