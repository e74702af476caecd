//! Dotenv text, read the way Laravel reads it.
//!
//! Secrets files hold dotenv text, and users write it for Laravel, which reads `.env` with
//! vlucas/phpdotenv 5. This module follows phpdotenv 5.4's grammar exactly, so that a file
//! means here what it means on a developer's machine: single quotes are literal; double
//! quotes take `\"`, `\\`, `\$`, `\f`, `\n`, `\r`, `\t`, `\v` and `${NAME}`; a value whose
//! first line opens a double quote goes on until the line that closes it (PEM keys); an
//! unquoted value ends at `#` or whitespace; `export NAME=…` is accepted; a bare `NAME`,
//! alone on its line, clears an earlier `NAME` of the same file. Loading is immutable, as
//! the original runtime's `Dotenv::createImmutable` was: a name already in the environment
//! keeps its value, and `${NAME}` reads the environment as loading has left it so far.
//!
//! Written here rather than taken from a crate: the Rust dotenv crates follow Ruby's or
//! their own grammar, which differs from phpdotenv's on quoting, escapes and comments.
//! Deliberate differences, each an error here where phpdotenv goes on: a double quote that
//! is never closed (phpdotenv silently drops that line and every line after it, which
//! would lose secrets), a NUL byte in a value (no process environment can hold it), text
//! that is not UTF-8 (phpdotenv replaces each bad byte with `?`), and references that grow
//! a value past [`MAX_RESOLVED_LEN`] (where phpdotenv runs out of memory). Everything else
//! follows phpdotenv, down to its surprises: a bare name must stand alone on its line
//! (` NAME` is an error, not an unset), and a comment line holding `="` opens a quote that
//! runs to the next line that closes one, all of it dropped as one comment.
//!
//! Errors name the line and, only when it is a valid variable name written before the
//! line's `=`, the variable; never other text of the line, since the text is secret.

use std::collections::HashMap;
use std::fmt;

use zeroize::Zeroizing;

/// One `NAME=value` (or bare `NAME`) of a dotenv text.
#[derive(Debug)]
pub struct Entry {
    pub name: String,
    /// `None` for a bare `NAME`, which clears an earlier definition.
    value: Option<Value>,
    /// The 1-based line the entry starts on.
    pub line: usize,
}

impl Entry {
    /// Whether this is a bare `NAME`, which clears an earlier `NAME` rather than setting it.
    pub fn is_bare(&self) -> bool {
        self.value.is_none()
    }
}

/// A parsed value: its characters and where a `$` may begin a `${NAME}` reference.
#[derive(Debug, Default)]
struct Value {
    chars: Zeroizing<String>,
    /// Byte offsets into `chars` of each unescaped `$` outside single quotes.
    references: Vec<usize>,
}

/// What is wrong with a dotenv text, without any of its values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DotenvError {
    pub line: usize,
    /// The variable, once its name is known to be valid.
    pub name: Option<String>,
    pub problem: Problem,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Problem {
    NotUtf8,
    LineStartsWithEquals,
    InvalidName,
    NotAnEntry,
    UnexpectedText,
    UnsupportedEscape,
    MissingClosingQuote,
    UnclosedMultilineValue,
    UnclosedQuoteInComment,
    NulInValue,
    ValueGrowsTooLong,
}

impl fmt::Display for DotenvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: ", self.line)?;
        if let Some(name) = &self.name {
            write!(f, "{name}: ")?;
        }
        f.write_str(match self.problem {
            Problem::NotUtf8 => "the text is not UTF-8",
            Problem::LineStartsWithEquals => "the line starts with \"=\"; write NAME=value",
            Problem::InvalidName => {
                "invalid variable name; names are letters, digits, \"_\" and \".\", followed by \"=\""
            }
            Problem::NotAnEntry => {
                "the line is neither NAME=value nor a bare NAME (which unsets NAME and stands alone, without spaces around it)"
            }
            Problem::UnexpectedText => {
                "unexpected text after whitespace or a closing quote; quote a value that contains spaces"
            }
            Problem::UnsupportedEscape => {
                "unsupported escape sequence in a double-quoted value; use \\\\, \\\", \\$, \\n, \\r, \\t, \\f or \\v"
            }
            Problem::MissingClosingQuote => "the quoted value has no closing quote",
            Problem::UnclosedMultilineValue => {
                "the double-quoted value opened on this line is never closed"
            }
            Problem::UnclosedQuoteInComment => {
                "this comment holds =\" and no closing quote follows, so phpdotenv would ignore every later line; remove the quote"
            }
            Problem::ValueGrowsTooLong => {
                "its ${NAME} references make the value longer than 64 KiB"
            }
            Problem::NulInValue => "the value holds a NUL byte, which no environment variable can",
        })
    }
}

impl std::error::Error for DotenvError {}

/// Parses dotenv text into its entries, in order.
pub fn parse(text: &[u8]) -> Result<Vec<Entry>, DotenvError> {
    let text = std::str::from_utf8(text).map_err(|error| {
        let line = 1 + text[..error.valid_up_to()]
            .iter()
            .filter(|&&b| b == b'\n')
            .count();
        DotenvError {
            line,
            name: None,
            problem: Problem::NotUtf8,
        }
    })?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let entries = logical_lines(text)?
        .into_iter()
        .map(|(line, raw)| parse_entry(line, &raw))
        .collect::<Result<Vec<_>, _>>()?;
    if let Some((name, line)) = load(&entries, |_| None).overgrown.into_iter().next() {
        return Err(DotenvError {
            line,
            name: Some(name),
            problem: Problem::ValueGrowsTooLong,
        });
    }
    Ok(entries)
}

/// The longest a value may grow through `${NAME}` references. phpdotenv sets no limit, and
/// a few lines such as `A=$$$$${A}` (where A begins with `{A}`) grow a value exponentially,
/// exhausting memory: here a text whose references alone would grow a value past this is
/// refused, and loading never makes a longer one. A value this long is far beyond any real
/// secret, and within Linux's limit on one environment string of a new process (128 KiB).
pub const MAX_RESOLVED_LEN: usize = 64 * 1024;

/// The variables a dotenv text sets, after immutable loading.
#[derive(Debug, Default)]
pub struct Loaded {
    /// Names and values, in the order first set.
    pub variables: Vec<(String, Zeroizing<String>)>,
    /// Names the text defines that the environment already had, each once.
    pub shadowed: Vec<String>,
    /// Entries (name, line) whose references would have grown the value past
    /// [`MAX_RESOLVED_LEN`]: their remaining references are left as written. [`parse`]
    /// refuses texts where this happens without an environment, so only values from the
    /// environment can bring it about.
    pub overgrown: Vec<(String, usize)>,
}

/// Loads entries over an environment that `existing` looks up: names it knows are left to
/// it (and listed as shadowed), `${NAME}` reads it, or the entries loaded so far.
pub fn load<'a>(
    entries: impl IntoIterator<Item = &'a Entry>,
    existing: impl Fn(&str) -> Option<String>,
) -> Loaded {
    // Values in the order first set, with a hole where a bare name unset one; an index by
    // name, so that loading stays linear in the number of entries.
    let mut variables: Vec<Option<(String, Zeroizing<String>)>> = Vec::new();
    let mut index: HashMap<String, usize> = HashMap::new();
    let mut shadowed = Vec::new();
    let mut overgrown = Vec::new();
    for entry in entries {
        if existing(&entry.name).is_some() {
            if !shadowed.contains(&entry.name) {
                shadowed.push(entry.name.clone());
            }
            continue;
        }
        let Some(value) = &entry.value else {
            if let Some(position) = index.remove(&entry.name) {
                variables[position] = None;
            }
            continue;
        };
        let (resolved, complete) = resolve(value, |name| {
            index
                .get(name)
                .and_then(|&position| variables[position].as_ref())
                .map(|(_, value)| Zeroizing::new(value.as_str().to_owned()))
                .or_else(|| existing(name).map(Zeroizing::new))
        });
        if !complete {
            overgrown.push((entry.name.clone(), entry.line));
        }
        match index.get(&entry.name) {
            Some(&position) => {
                if let Some((_, value)) = &mut variables[position] {
                    *value = resolved;
                }
            }
            None => {
                index.insert(entry.name.clone(), variables.len());
                variables.push(Some((entry.name.clone(), resolved)));
            }
        }
    }
    Loaded {
        variables: variables.into_iter().flatten().collect(),
        shadowed,
        overgrown,
    }
}

/// Replaces each `${NAME}` that starts at a recorded `$` with the looked-up value, the last
/// one first, as phpdotenv's resolver does; an unknown name stays as written. Stops before a
/// replacement that would make the value longer than [`MAX_RESOLVED_LEN`] (and says so with
/// `false`), which also bounds the work: one copy of at most that much per reference.
fn resolve(
    value: &Value,
    lookup: impl Fn(&str) -> Option<Zeroizing<String>>,
) -> (Zeroizing<String>, bool) {
    let mut resolved = Zeroizing::new(value.chars.as_str().to_owned());
    for &start in value.references.iter().rev() {
        // `${` and a valid name closed by `}`: phpdotenv's `\A\${([a-zA-Z0-9_.]+)}`.
        let Some(inner) = resolved[start..].strip_prefix("${") else {
            continue;
        };
        let name_end = inner
            .find(|c: char| !is_name_char(c))
            .unwrap_or(inner.len());
        let name = &inner[..name_end];
        if name.is_empty() || !inner[name_end..].starts_with('}') {
            continue;
        }
        let Some(replacement) = lookup(name) else {
            continue;
        };
        let end = start + name.len() + 3;
        let length = resolved.len() - (end - start) + replacement.len();
        if length > MAX_RESOLVED_LEN {
            return (resolved, false);
        }
        let mut next = Zeroizing::new(String::with_capacity(length));
        next.push_str(&resolved[..start]);
        next.push_str(&replacement);
        next.push_str(&resolved[end..]);
        resolved = next;
    }
    (resolved, true)
}

/// PHP's `trim` characters.
fn is_php_trimmed(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\r' | '\0' | '\x0B')
}

/// C's `isspace`, which phpdotenv's `ctype_space` and the lexer's `\s` use.
fn is_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\x0B' | '\x0C' | '\r')
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '.'
}

fn is_valid_name(name: &str) -> bool {
    !name.is_empty() && name.chars().all(is_name_char)
}

/// Splits the text into lines and joins each multi-line double-quoted value into one
/// entry, dropping blank and comment lines (phpdotenv's `Lines::process`).
fn logical_lines(text: &str) -> Result<Vec<(usize, Zeroizing<String>)>, DotenvError> {
    let mut output = Vec::new();
    let mut buffer: Vec<&str> = Vec::new();
    let mut buffer_line = 0;
    let mut multiline = false;
    for (index, line) in physical_lines(text).enumerate() {
        let started = looks_like_multiline_start(line);
        multiline |= started;
        if multiline {
            if buffer.is_empty() {
                buffer_line = index + 1;
            }
            buffer.push(line);
            if looks_like_multiline_stop(line, started) {
                multiline = false;
                // A comment line that holds `="` opens a "value" too: phpdotenv joins the
                // lines up to the closing quote and then drops them all as one comment.
                if !is_comment(buffer[0]) {
                    output.push((buffer_line, Zeroizing::new(buffer.join("\n"))));
                }
                buffer.clear();
            }
            continue;
        }
        if !line.trim_matches(is_php_trimmed).is_empty() && !is_comment(line) {
            output.push((index + 1, Zeroizing::new(line.to_owned())));
        }
    }
    if let Some(first) = buffer.first() {
        let (name, problem) = if is_comment(first) {
            (None, Problem::UnclosedQuoteInComment)
        } else {
            let name = first
                .split_once('=')
                .and_then(|(name, _)| parse_name(name.trim_matches(is_php_trimmed)))
                .map(str::to_owned);
            (name, Problem::UnclosedMultilineValue)
        };
        return Err(DotenvError {
            line: buffer_line,
            name,
            problem,
        });
    }
    Ok(output)
}

/// Whether a line is a comment: `#` after PHP's `trim` characters.
fn is_comment(line: &str) -> bool {
    line.trim_start_matches(is_php_trimmed).starts_with('#')
}

/// Lines split at `\r\n`, `\n` or `\r`.
fn physical_lines(text: &str) -> impl Iterator<Item = &str> {
    let mut rest = Some(text);
    std::iter::from_fn(move || {
        let current = rest?;
        match current.find(['\r', '\n']) {
            Some(at) => {
                let skip = if current[at..].starts_with("\r\n") {
                    2
                } else {
                    1
                };
                rest = Some(&current[at + skip..]);
                Some(&current[..at])
            }
            None => {
                rest = None;
                Some(current)
            }
        }
    })
}

fn looks_like_multiline_start(line: &str) -> bool {
    line.contains("=\"") && !looks_like_multiline_stop(line, true)
}

/// Whether the line closes a double quote: counts the quotes not preceded by a backslash
/// (after dropping escaped backslashes); an opening line needs two.
fn looks_like_multiline_stop(line: &str, started: bool) -> bool {
    if line == "\"" {
        return true;
    }
    let unescaped = Zeroizing::new(line.replace("\\\\", ""));
    let quotes = unescaped
        .as_bytes()
        .windows(2)
        .filter(|pair| pair[0] != b'\\' && pair[1] == b'"')
        .count();
    if started { quotes > 1 } else { quotes >= 1 }
}

fn parse_entry(line: usize, raw: &str) -> Result<Entry, DotenvError> {
    let error = |name: Option<&str>, problem| DotenvError {
        line,
        name: name.map(str::to_owned),
        problem,
    };
    // As phpdotenv splits an entry: around `=` each side is trimmed, but a line without
    // `=` is taken whole, so a bare name with spaces around it is not a name.
    let (name, value) = match raw.split_once('=') {
        Some((name, value)) => (
            name.trim_matches(is_php_trimmed),
            Some(value.trim_matches(is_php_trimmed)),
        ),
        None => (raw, None),
    };
    if name.is_empty() && value.is_some() {
        return Err(error(None, Problem::LineStartsWithEquals));
    }
    // Never the text itself in the error: a line that is not an entry may be a value.
    let name = parse_name(name).ok_or_else(|| match value {
        Some(_) => error(None, Problem::InvalidName),
        None => error(None, Problem::NotAnEntry),
    })?;
    let value = match value {
        None => None,
        Some(value) => {
            let value = parse_value(value).map_err(|problem| error(Some(name), problem))?;
            if value.chars.contains('\0') {
                return Err(error(Some(name), Problem::NulInValue));
            }
            Some(value)
        }
    };
    Ok(Entry {
        name: name.to_owned(),
        value,
        line,
    })
}

fn parse_name(name: &str) -> Option<&str> {
    let mut name = name;
    if name.chars().count() > 8 && name.starts_with("export") && name[6..].starts_with(is_space) {
        name = name[6..].trim_start_matches(is_php_trimmed);
    }
    if name.chars().count() >= 3
        && ((name.starts_with('"') && name.ends_with('"'))
            || (name.starts_with('\'') && name.ends_with('\'')))
    {
        name = &name[1..name.len() - 1];
    }
    is_valid_name(name).then_some(name)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Initial,
    Unquoted,
    SingleQuoted,
    DoubleQuoted,
    Escape,
    Whitespace,
    Comment,
}

/// phpdotenv's value state machine over the lexer's tokens.
fn parse_value(text: &str) -> Result<Value, Problem> {
    let mut value = Value {
        chars: Zeroizing::new(String::with_capacity(text.len())),
        references: Vec::new(),
    };
    if text.trim_matches(is_php_trimmed).is_empty() {
        return Ok(value);
    }
    let mut state = State::Initial;
    for token in tokens(text) {
        let is_whitespace = token.starts_with(is_space);
        let mut reference = false;
        let (append, next): (&str, State) = match state {
            State::Initial | State::Unquoted => match token {
                "'" if state == State::Initial => ("", State::SingleQuoted),
                "\"" if state == State::Initial => ("", State::DoubleQuoted),
                "#" => ("", State::Comment),
                "$" => {
                    reference = true;
                    (token, State::Unquoted)
                }
                _ if is_whitespace && state == State::Unquoted => ("", State::Whitespace),
                _ => (token, State::Unquoted),
            },
            State::SingleQuoted => match token {
                "'" => ("", State::Whitespace),
                _ => (token, State::SingleQuoted),
            },
            State::DoubleQuoted => match token {
                "\"" => ("", State::Whitespace),
                "\\" => ("", State::Escape),
                "$" => {
                    reference = true;
                    (token, State::DoubleQuoted)
                }
                _ => (token, State::DoubleQuoted),
            },
            State::Escape => match token {
                "\"" | "\\" | "$" => (token, State::DoubleQuoted),
                _ => {
                    let control = match token.as_bytes()[0] {
                        b'f' => "\x0C",
                        b'n' => "\n",
                        b'r' => "\r",
                        b't' => "\t",
                        b'v' => "\x0B",
                        _ => return Err(Problem::UnsupportedEscape),
                    };
                    value.chars.push_str(control);
                    (&token[1..], State::DoubleQuoted)
                }
            },
            State::Whitespace => match token {
                "#" => ("", State::Comment),
                _ if is_whitespace => ("", State::Whitespace),
                _ => return Err(Problem::UnexpectedText),
            },
            State::Comment => ("", State::Comment),
        };
        if reference {
            value.references.push(value.chars.len());
        }
        value.chars.push_str(append);
        state = next;
    }
    match state {
        State::SingleQuoted | State::DoubleQuoted | State::Escape => {
            Err(Problem::MissingClosingQuote)
        }
        _ => Ok(value),
    }
}

/// phpdotenv's lexer: runs of line breaks, runs of other whitespace, each of
/// `\ ' " # $` alone, and runs of anything else.
fn tokens(text: &str) -> impl Iterator<Item = &str> {
    #[derive(PartialEq)]
    enum Class {
        LineBreak,
        Space,
        Single,
        Other,
    }
    fn class(c: char) -> Class {
        match c {
            '\r' | '\n' => Class::LineBreak,
            c if is_space(c) => Class::Space,
            '\\' | '\'' | '"' | '#' | '$' => Class::Single,
            _ => Class::Other,
        }
    }
    let mut rest = text;
    std::iter::from_fn(move || {
        let first = rest.chars().next()?;
        let kind = class(first);
        let end = if kind == Class::Single {
            1
        } else {
            rest.find(|c| class(c) != kind).unwrap_or(rest.len())
        };
        let (token, remainder) = rest.split_at(end);
        rest = remainder;
        Some(token)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(text: &str) -> Vec<(String, String)> {
        let entries = parse(text.as_bytes()).unwrap_or_else(|e| panic!("{text:?}: {e}"));
        load(&entries, |_| None)
            .variables
            .into_iter()
            .map(|(name, value)| (name, value.as_str().to_owned()))
            .collect()
    }

    fn value(text: &str) -> String {
        let all = values(text);
        assert_eq!(all.len(), 1, "{text:?} gave {all:?}");
        all[0].1.clone()
    }

    fn problem(text: &str) -> DotenvError {
        parse(text.as_bytes()).expect_err(text)
    }

    #[test]
    fn unquoted_values_end_at_a_comment() {
        assert_eq!(value("A=plain"), "plain");
        assert_eq!(value("A=plain # note"), "plain");
        assert_eq!(value("A=plain#note"), "plain");
        assert_eq!(value("A=  padded  "), "padded");
        assert_eq!(value("A="), "");
        assert_eq!(value("A=#all comment"), "");
        assert_eq!(value("A=base64:ZR+c/x=="), "base64:ZR+c/x==");
    }

    #[test]
    fn single_quotes_are_literal() {
        assert_eq!(value(r"A='x \n ${B} # $'"), r"x \n ${B} # $");
        assert_eq!(value("A='with \"double\"'"), "with \"double\"");
        assert_eq!(value("A='spaced' # comment"), "spaced");
    }

    #[test]
    fn double_quotes_take_escapes() {
        assert_eq!(value(r#"A="a\"b""#), "a\"b");
        assert_eq!(value(r#"A="back\\slash""#), "back\\slash");
        assert_eq!(value(r#"A="dollar \${B}""#), "dollar ${B}");
        assert_eq!(value(r#"A="t\tn\nr\rf\fv\v""#), "t\tn\nr\rf\x0Cv\x0B");
        assert_eq!(value(r#"A="hash # kept""#), "hash # kept");
        assert_eq!(value(r#"A="x\nyz""#), "x\nyz");
    }

    #[test]
    fn a_pem_key_spans_lines() {
        let text = "KEY=\"-----BEGIN PRIVATE KEY-----\nMIIEvAIBAD+/=\nVZ0XnKhP==\n-----END PRIVATE KEY-----\"\nNEXT=1\n";
        assert_eq!(
            values(text),
            vec![
                (
                    "KEY".into(),
                    "-----BEGIN PRIVATE KEY-----\nMIIEvAIBAD+/=\nVZ0XnKhP==\n-----END PRIVATE KEY-----".into()
                ),
                ("NEXT".into(), "1".into())
            ]
        );
        let crlf = text.replace('\n', "\r\n");
        assert_eq!(values(&crlf)[0].1, values(text)[0].1);
    }

    #[test]
    fn export_quoted_names_comments_and_blank_lines() {
        let text = "# heading\n\n  export   DB_HOST=db\n\"QUOTED\"=1\n'SINGLE'=2\n\t# indented comment\nDOTTED.NAME=3\n";
        assert_eq!(
            values(text),
            vec![
                ("DB_HOST".into(), "db".into()),
                ("QUOTED".into(), "1".into()),
                ("SINGLE".into(), "2".into()),
                ("DOTTED.NAME".into(), "3".into()),
            ]
        );
    }

    #[test]
    fn references_read_earlier_entries_and_the_environment() {
        let entries = parse(
            b"USER=app\nURL=\"mysql://${USER}:${PASS}@${HOST}/${MISSING}\"\nBARE=${USER}-x\nLIT='${USER}'\n",
        )
        .unwrap();
        let loaded = load(&entries, |name| {
            (name == "HOST").then(|| "db.internal".into())
        });
        let get = |name: &str| {
            loaded
                .variables
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.as_str().to_owned())
        };
        assert_eq!(
            get("URL").as_deref(),
            Some("mysql://app:${PASS}@db.internal/${MISSING}")
        );
        assert_eq!(get("BARE").as_deref(), Some("app-x"));
        assert_eq!(get("LIT").as_deref(), Some("${USER}"));
    }

    #[test]
    fn loading_is_immutable_and_later_entries_of_the_file_win() {
        let entries = parse(b"A=file\nB=1\nB=2\nC=${A}\nGONE=x\nGONE\nA=again\n").unwrap();
        let loaded = load(&entries, |name| (name == "A").then(|| "environment".into()));
        let names: Vec<_> = loaded
            .variables
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect();
        assert_eq!(names, vec![("B", "2"), ("C", "environment")]);
        assert_eq!(loaded.shadowed, vec!["A".to_string()]);
    }

    #[test]
    fn errors_name_the_line_and_never_the_value() {
        let cases: [(&str, usize, Option<&str>, Problem); 11] = [
            (
                "OK=1\nPASSWORD=s3cret value\n",
                2,
                Some("PASSWORD"),
                Problem::UnexpectedText,
            ),
            (
                "\n\nPASSWORD=\"s3cret\\q\"",
                3,
                Some("PASSWORD"),
                Problem::UnsupportedEscape,
            ),
            (
                "PASSWORD='s3cret",
                1,
                Some("PASSWORD"),
                Problem::MissingClosingQuote,
            ),
            ("A=1\n=s3cret", 2, None, Problem::LineStartsWithEquals),
            ("s3cret value", 1, None, Problem::NotAnEntry),
            ("A=1\n s3cret", 2, None, Problem::NotAnEntry),
            ("s3cret value=1", 1, None, Problem::InvalidName),
            (
                "# PASSWORD=\"s3cret\nB=1\n",
                1,
                None,
                Problem::UnclosedQuoteInComment,
            ),
            (
                "A=1\nKEY=\"s3cret\nmore s3cret\n",
                2,
                Some("KEY"),
                Problem::UnclosedMultilineValue,
            ),
            ("export A=s3cret", 1, None, Problem::InvalidName),
            (
                "PASSWORD=\"s3cret\0\"",
                1,
                Some("PASSWORD"),
                Problem::NulInValue,
            ),
        ];
        for (text, line, name, expected) in cases {
            let error = problem(text);
            assert_eq!(
                (error.line, error.name.as_deref(), error.problem),
                (line, name, expected),
                "{text:?}"
            );
            let message = error.to_string();
            assert!(!message.contains("s3cret"), "{message}");
            assert!(message.starts_with(&format!("line {line}: ")), "{message}");
        }
    }

    /// Regression: a bare name with spaces around it was trimmed and taken as an unset, so
    /// an indented or trailing-space ` DB_PASSWORD` line silently dropped the secret set
    /// above it. phpdotenv refuses such a file; so does this parser now, without quoting
    /// the line.
    #[test]
    fn a_bare_name_with_spaces_around_it_is_an_error_not_an_unset() {
        for (text, line) in [
            ("DB_PASSWORD=secret\n DB_PASSWORD\n", 2),
            ("DB_PASSWORD=secret\nDB_PASSWORD \n", 2),
            ("DB_PASSWORD=secret\n\tDB_PASSWORD", 2),
            ("\x0BDB_PASSWORD\nDB_PASSWORD=secret", 1),
        ] {
            let error = problem(text);
            assert_eq!(
                (error.line, error.name.as_deref(), error.problem),
                (line, None, Problem::NotAnEntry),
                "{text:?}"
            );
            assert!(!error.to_string().contains("DB_PASSWORD"), "{error}");
        }
        assert_eq!(
            values("DB_PASSWORD=secret\nDB_PASSWORD\nA=1"),
            [("A".into(), "1".into())]
        );
        assert_eq!(values("A=1\nexport  B"), [("A".into(), "1".into())]);
    }

    /// Regression: a comment line holding `="` (a commented-out PEM key, say) made the
    /// lines up to the closing quote one entry, refused as an invalid name; phpdotenv
    /// drops them all as one comment, and so does this parser now.
    #[test]
    fn a_comment_that_opens_a_quote_runs_to_the_closing_quote() {
        let text = "A=1\n#KEY=\"-----BEGIN PRIVATE KEY-----\nMIIEvAIBAD+/=\n-----END PRIVATE KEY-----\"\nB=2\n";
        assert_eq!(
            values(text),
            [("A".into(), "1".into()), ("B".into(), "2".into())]
        );
        assert_eq!(
            values("  # note: X=\"y\nC=3\nD=\"z\"\nE=4"),
            [("E".into(), "4".into())]
        );
        let error = problem("A=1\n# unclosed=\"quote\nB=2\n");
        assert_eq!(
            (error.line, error.name, error.problem),
            (2, None, Problem::UnclosedQuoteInComment)
        );
        let error = problem("export KEY=\"never closed\n");
        assert_eq!(
            (error.name.as_deref(), error.problem),
            (Some("KEY"), Problem::UnclosedMultilineValue)
        );
    }

    /// Regression, found by fuzzing (a 10 s timeout): references that re-form `${A}` grow a
    /// value exponentially, line after line, as they do in phpdotenv, which runs out of
    /// memory. Parsing now refuses such a text, naming the entry, and loading stops growing
    /// a value at the limit.
    #[test]
    fn references_cannot_grow_a_value_without_bound() {
        let dollars = "$".repeat(40);
        let line = format!("A={dollars}${{A}}}}\n");
        let text = format!("A={{A}}}}x\n{line}{line}{line}");
        let started = std::time::Instant::now();
        let error = problem(&text);
        assert!(started.elapsed().as_secs() < 2);
        assert_eq!(
            (error.line, error.name.as_deref(), error.problem),
            (4, Some("A"), Problem::ValueGrowsTooLong)
        );
        // As in phpdotenv, each `$` before `${A}` meets a fresh `{A}` once the one after it
        // is resolved, so each line inserts A's former value 41 times: 5, 86, 3407, then
        // about 140,000 bytes.
        assert_eq!(value(&format!("A={{A}}}}x\n{line}")).len(), 86);
        assert_eq!(value(&format!("A={{A}}}}x\n{line}{line}")).len(), 3407);
        // From the environment, a value stops at the limit and the entry is listed.
        let entries = parse(b"B=${HUGE}${HUGE}\nC=${HUGE}\n").unwrap();
        let huge = "x".repeat(MAX_RESOLVED_LEN / 2 + 1);
        let loaded = load(&entries, |name| (name == "HUGE").then(|| huge.clone()));
        assert_eq!(loaded.overgrown, [("B".to_string(), 1)]);
        assert_eq!(loaded.variables[0].1.as_str(), format!("${{HUGE}}{huge}"));
        assert_eq!(loaded.variables[1].1.as_str(), huge);
    }

    #[test]
    fn loading_many_entries_is_linear() {
        let text: String = (0..100_000)
            .map(|i| format!("N{i}=${{N{}}}x\n", i / 2))
            .collect();
        let started = std::time::Instant::now();
        let entries = parse(text.as_bytes()).unwrap();
        let loaded = load(&entries, |_| None);
        assert_eq!(loaded.variables.len(), 100_000);
        assert!(started.elapsed().as_secs() < 5, "{:?}", started.elapsed());
    }

    #[test]
    fn text_that_is_not_utf8_is_refused_with_its_line() {
        let error = parse(b"A=1\nB=\xff\xfe\n").unwrap_err();
        assert_eq!((error.line, error.problem), (2, Problem::NotUtf8));
    }

    #[test]
    fn a_byte_order_mark_is_skipped() {
        assert_eq!(values("\u{feff}A=1"), vec![("A".into(), "1".into())]);
    }
}
