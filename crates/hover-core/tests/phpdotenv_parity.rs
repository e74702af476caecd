//! The dotenv parser against phpdotenv itself.
//!
//! Every case is parsed twice: by `hover_core::dotenv` and by the vlucas/phpdotenv that
//! Laravel uses (Debian's php-vlucas-phpdotenv, run by `php`, one process for a whole
//! batch), and the two must agree on the entries (names, in order, and which are bare) and
//! on the variables they leave, or both refuse the text. The expected values are
//! phpdotenv's, so none comes from the code under test. Besides a list of hand-written
//! cases, a grammar-aware generator makes a few thousand random dotenv texts from a fixed
//! seed; `HOVER_PARITY_SEED` (a number) changes the seed and `HOVER_PARITY_CASES` the
//! count, for a longer hunt.
//!
//! The deliberate differences, each checked for exactly what it is:
//! - a double quote that is never closed: phpdotenv drops that line and every line after
//!   it; here it is an error, naming the line it opens on;
//! - a NUL byte in a value: phpdotenv keeps it; here it is an error, since no process
//!   environment can hold it;
//! - text that is not UTF-8: phpdotenv replaces each bad byte with `?`; here it is an
//!   error;
//! - `${NAME}` references that would grow a value past 64 KiB: phpdotenv runs out of
//!   memory on the few lines it takes to grow one exponentially; here it is an error.

use std::collections::BTreeMap;
use std::io::Write;
use std::process::{Command, Stdio};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hover_core::dotenv::{self, DotenvError, Problem};

/// phpdotenv as Laravel runs it on a `.env` file: the file reader's UTF-8 conversion (which
/// also drops a byte-order mark), the parser, and the loader over a plain array repository.
/// Inputs and values travel as base64, so that any byte survives JSON.
const PHPDOTENV: &str = r#"
require '/usr/share/php/Dotenv/autoload.php';
use Dotenv\Loader\Loader;
use Dotenv\Parser\Parser;
use Dotenv\Repository\Adapter\ArrayAdapter;
use Dotenv\Repository\RepositoryBuilder;
use Dotenv\Util\Str;
$results = [];
foreach (json_decode(stream_get_contents(STDIN), true) as $case) {
    try {
        $content = Str::utf8(base64_decode($case))->success()->get();
        $entries = (new Parser())->parse($content);
        $repository = RepositoryBuilder::createWithNoAdapters()->addAdapter(ArrayAdapter::class)->make();
        (new Loader())->load($repository, $entries);
        $names = [];
        $variables = [];
        $nul = false;
        foreach ($entries as $entry) {
            $value = $entry->getValue();
            $names[] = [$entry->getName(), !$value->isDefined()];
            $nul = $nul || ($value->isDefined() && str_contains($value->get()->getChars(), "\0"));
            $loaded = $repository->get($entry->getName());
            if ($loaded === null) {
                unset($variables[$entry->getName()]);
            } else {
                $variables[$entry->getName()] = base64_encode($loaded);
            }
        }
        $results[] = ['entries' => $names, 'variables' => (object) $variables, 'nul' => $nul];
    } catch (Throwable $e) {
        $results[] = ['error' => get_class($e)];
    }
}
echo json_encode($results);
"#;

const CASES: &[&str] = &[
    "A=plain",
    "A=plain # comment\nB=2",
    "A=plain#comment",
    "A=   padded   ",
    "A=",
    "A=#only a comment",
    "A=base64:ZR+casdas/zxc==",
    "A='single quoted'",
    "A='with \\n and ${B} and \\''",
    "A='it''s'",
    "A=\"double quoted\"",
    "A=\"escaped \\\" quote\"",
    "A=\"back\\\\slash\"",
    "A=\"tab\\tnew\\nret\\rff\\fvt\\v\"",
    "A=\"no \\q escape\"",
    "A=\"dollar \\${B}\"",
    "A='unclosed",
    "A=unquoted value",
    "A=\"quoted\" trailing",
    "A=\"quoted\" # comment",
    "A='quoted' # comment",
    "A=\"hash # inside\"",
    "A=un'quoted\"marks",
    "A=ends-with-backslash\\",
    "export A_LONG=1",
    "export A=1",
    "export\tTABBED=1",
    "\"QUOTED_NAME\"=1",
    "'SQ_NAME'=1",
    "DOTTED.NAME=1",
    "BAD-NAME=1",
    "=value",
    "BARE",
    "A=1\nA",
    "A=1\nA=2",
    "# comment\n\n   \n\t# indented\nA=1",
    "A=1\r\nB=2\rC=3\n",
    "KEY=\"-----BEGIN PRIVATE KEY-----\nMIIEvAIBAD+/=\nVZ0XnKhP==\n-----END PRIVATE KEY-----\"\nNEXT=after",
    "KEY=\"-----BEGIN-----\r\nline\r\n-----END-----\"\r\nNEXT=1",
    "KEY=\"first\n\"\nNEXT=1",
    "KEY=\"first\nsecond \\\" still\nthird\"",
    "A=\"one\" B=\"two\"",
    "U=app\nURL=\"mysql://${U}:${MISSING}@host/${U}\"",
    "U=app\nURL=${U}-suffix\nLIT='${U}'",
    "U=app\nNESTED=\"$${U}\"",
    "A=\"${}\"\nB=${.}\nC=$ {U}",
    "ÄNAME=1",
    "A=ünïcödé € value",
    "A=\"ünïcödé\\nline\"",
    "A=  'spaced quotes'  ",
    "A=\"\"",
    "A=''",
    "A=\"a\"\"b\"",
    "   A   =   b   ",
    "A=b=c=d",
    "A=\"x\"#y",
    "A=$",
    "A=\"\\$\"",
    "A=\"\\\\\\\"\"",
];

/// What a parser made of a text: its entries (name, whether bare) in order and the
/// variables they leave, or an error.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Parsed {
    entries: Vec<(String, bool)>,
    variables: BTreeMap<String, String>,
}

#[derive(Debug)]
struct Php {
    parsed: Option<Parsed>,
    /// Whether some entry's value holds a NUL byte.
    nul: bool,
}

fn ours(text: &[u8]) -> Result<Parsed, DotenvError> {
    let entries = dotenv::parse(text)?;
    Ok(Parsed {
        entries: entries
            .iter()
            .map(|entry| (entry.name.clone(), entry.is_bare()))
            .collect(),
        variables: dotenv::load(&entries, |_| None)
            .variables
            .into_iter()
            .map(|(name, value)| (name, value.as_str().to_owned()))
            .collect(),
    })
}

fn phpdotenv<T: AsRef<[u8]>>(cases: &[T]) -> Vec<Php> {
    let encoded: Vec<String> = cases
        .iter()
        .map(|case| STANDARD.encode(case.as_ref()))
        .collect();
    let mut php = Command::new("php")
        .arg("-r")
        .arg(PHPDOTENV)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("php runs (scripts/setup.sh installs php8.2-cli and php-vlucas-phpdotenv)");
    php.stdin
        .take()
        .unwrap()
        .write_all(serde_json::to_string(&encoded).unwrap().as_bytes())
        .unwrap();
    let output = php.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "php failed: {}",
        String::from_utf8_lossy(&output.stdout)
    );
    let results: Vec<serde_json::Value> = serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&output.stdout)));
    assert_eq!(results.len(), cases.len());
    results
        .into_iter()
        .map(|result| {
            let Some(entries) = result.get("entries") else {
                return Php {
                    parsed: None,
                    nul: false,
                };
            };
            let entries = entries
                .as_array()
                .unwrap()
                .iter()
                .map(|pair| {
                    (
                        pair[0].as_str().unwrap().to_owned(),
                        pair[1].as_bool().unwrap(),
                    )
                })
                .collect();
            let variables = result["variables"]
                .as_object()
                .unwrap()
                .iter()
                .map(|(name, value)| {
                    let value = STANDARD.decode(value.as_str().unwrap()).unwrap();
                    (name.clone(), String::from_utf8(value).unwrap())
                })
                .collect();
            Php {
                parsed: Some(Parsed { entries, variables }),
                nul: result["nul"].as_bool().unwrap(),
            }
        })
        .collect()
}

/// The text before physical line `line` (1-based), lines split as phpdotenv splits them.
fn lines_before(text: &[u8], line: usize) -> &[u8] {
    let mut seen = 1;
    let mut at = 0;
    while seen < line && at < text.len() {
        match text[at] {
            b'\r' if text.get(at + 1) == Some(&b'\n') => {
                at += 2;
                seen += 1;
                continue;
            }
            b'\r' | b'\n' => seen += 1,
            _ => {}
        }
        at += 1;
    }
    &text[..at]
}

/// Whether our result for `text` agrees with phpdotenv's, or differs only as documented.
fn agrees(text: &[u8], php: &Php) -> bool {
    match (ours(text), &php.parsed) {
        (Ok(actual), Some(expected)) => actual == *expected,
        (Err(_), None) => true,
        (Ok(_), None) => false,
        (Err(error), Some(_)) => match error.problem {
            // phpdotenv drops the line that opens the quote and every line after it, and
            // takes the lines before as we do (which may differ again, as documented).
            Problem::UnclosedMultilineValue | Problem::UnclosedQuoteInComment => {
                agrees(lines_before(text, error.line), php)
            }
            Problem::NulInValue => php.nul,
            Problem::NotUtf8 => std::str::from_utf8(text).is_err(),
            _ => false,
        },
    }
}

/// A report of a text on which the two disagree; `None` when they agree.
fn disagreement(text: &[u8], php: &Php) -> Option<String> {
    (!agrees(text, php)).then(|| {
        format!(
            "{:?}\n  phpdotenv: {:?}\n  ours:      {:?}",
            String::from_utf8_lossy(text),
            php.parsed,
            ours(text)
        )
    })
}

/// An error names a variable only when it is the valid name written before the line's `=`,
/// never other text of the line; its message never holds more of the text than that name.
fn check_error_names(text: &[u8]) -> Result<(), String> {
    let Err(error) = dotenv::parse(text) else {
        return Ok(());
    };
    let line = String::from_utf8_lossy(text)
        .replace("\r\n", "\n")
        .replace('\r', "\n")
        .split('\n')
        .nth(error.line - 1)
        .map(str::to_owned)
        .ok_or_else(|| format!("{error}: no line {} in {text:?}", error.line))?;
    let message = error.to_string();
    let problem = format!("{:?}: {message}", String::from_utf8_lossy(text));
    let expected_start = format!("line {}: ", error.line);
    let rest = message
        .strip_prefix(&expected_start)
        .ok_or_else(|| problem.clone())?;
    match &error.name {
        None => {}
        Some(name) => {
            let valid = !name.is_empty()
                && name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.');
            let before_equals = line.split_once('=').map_or("", |(before, _)| before);
            if !valid || !before_equals.contains(name.as_str()) {
                return Err(format!("invalid or invented name {name:?}: {problem}"));
            }
            if !rest.starts_with(&format!("{name}: ")) {
                return Err(problem);
            }
        }
    }
    Ok(())
}

/// phpdotenv's lexer takes runs of at most 1000 bytes per token; values grow long.
#[test]
fn long_runs_agree_with_phpdotenv() {
    let long = |piece: &str| piece.repeat(1500);
    let cases = [
        format!("A=\"\\{}\"", long("n")),
        format!("A={}x", long(" ")),
        format!("A=x{}#c", long("\t")),
        format!("A=\"{}\"", long("\n")),
        format!("A={}", long("ä")),
        format!("A='{}'", long("$")),
        format!("{}=1", long("B")),
        format!("A=\"x\"{}", long(" ")),
        // References that re-form `${A}` as they resolve: each line inserts A's former
        // value once per `$` (3407 bytes after three lines; a fourth passes our limit).
        format!("A={{A}}}}x\nA={0}${{A}}}}\nA={0}${{A}}}}\n", "$".repeat(40)),
    ];
    let expected = phpdotenv(&cases);
    for (case, php) in cases.iter().zip(&expected) {
        assert!(
            agrees(case.as_bytes(), php),
            "{}",
            disagreement(case.as_bytes(), php).unwrap()
        );
    }
}

#[test]
fn the_parser_agrees_with_phpdotenv() {
    let expected = phpdotenv(CASES);
    let disagreements: Vec<String> = CASES
        .iter()
        .zip(&expected)
        .filter_map(|(case, php)| disagreement(case.as_bytes(), php))
        .collect();
    assert!(
        disagreements.is_empty(),
        "{} of {} cases differ:\n{}",
        disagreements.len(),
        CASES.len(),
        disagreements.join("\n")
    );
}

/// The one deliberate difference on closed-ness: phpdotenv drops a double-quoted value that
/// is never closed, and everything after it; here that is an error, since it would lose
/// secrets.
#[test]
fn an_unclosed_double_quote_is_an_error_where_phpdotenv_drops_the_rest() {
    for (text, line) in [("A=1\nKEY=\"never\nclosed\nB=2\n", 2), ("A=1\nKEY=\"x", 2)] {
        let php = phpdotenv(&[text]).remove(0);
        let expected = php.parsed.expect("phpdotenv accepts it");
        assert_eq!(
            expected.variables.keys().collect::<Vec<_>>(),
            ["A"],
            "phpdotenv drops KEY"
        );
        let error = dotenv::parse(text.as_bytes()).unwrap_err();
        assert_eq!(
            (error.line, error.name.as_deref(), error.problem),
            (line, Some("KEY"), Problem::UnclosedMultilineValue)
        );
    }
}

#[test]
fn a_nul_byte_in_a_value_is_an_error_where_phpdotenv_keeps_it() {
    let text = "A=\"x\0y\"\n";
    let php = phpdotenv(&[text]).remove(0);
    assert!(php.nul && php.parsed.is_some());
    let error = dotenv::parse(text.as_bytes()).unwrap_err();
    assert_eq!((error.line, error.problem), (1, Problem::NulInValue));
}

#[test]
fn text_that_is_not_utf8_is_an_error_where_phpdotenv_replaces_bytes() {
    let text = b"A=x\xffy\n";
    let php = phpdotenv(&[text]).remove(0);
    assert_eq!(php.parsed.unwrap().variables["A"], "x?y");
    assert_eq!(dotenv::parse(text).unwrap_err().problem, Problem::NotUtf8);
}

/// A small, seedable generator (SplitMix64): the same seed gives the same texts.
struct Random(u64);

impl Random {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }

    fn pick<'a>(&mut self, choices: &[&'a str]) -> &'a str {
        choices[self.below(choices.len())]
    }
}

const NAMES: &[&str] = &["A", "B", "DB_PASSWORD", "APP.KEY", "_x1", "9"];
const INVALID_NAMES: &[&str] = &["A-B", "A B", "Ä", "A$", "A\"", "'A", "\"\"", "export", "#A"];
const SPACE: &[&str] = &[" ", "  ", "\t", "\x0B", "\x0C"];
/// Pieces of text that matter to the grammar, and a few that do not.
const PIECES: &[&str] = &[
    "a", "Z9", "x.y", "-", "=", "==", " ", "\t", "\x0B", "\x0C", "#", "$", "${", "}", "{", "'",
    "\"", "\\", "\\\"", "\\\\", "\\n", "\\t", "\\q", "\\$", "\\f", "\\v", "\\r", "ä", "€", "(",
    ")", ":", "/", "+", "export", "\n", "\r\n", "\r", "=\"", "\u{85}", "\u{a0}", "\u{2028}",
    "\u{feff}",
];

fn name(random: &mut Random) -> String {
    let name = if random.chance(96) {
        random.pick(NAMES)
    } else {
        random.pick(INVALID_NAMES)
    };
    match random.below(10) {
        0 => format!("\"{name}\""),
        1 => format!("'{name}'"),
        _ => name.to_owned(),
    }
}

fn space(random: &mut Random, percent: usize) -> String {
    let mut text = String::new();
    while random.chance(percent) {
        text.push_str(random.pick(SPACE));
    }
    text
}

fn reference(random: &mut Random) -> String {
    match random.below(4) {
        0 => format!("${{{}}}", random.pick(NAMES)),
        1 => format!("${}", random.pick(NAMES)),
        2 => format!("${{{}", random.pick(NAMES)),
        _ => "${}".to_owned(),
    }
}

fn pieces(random: &mut Random, most: usize) -> String {
    (0..random.below(most + 1))
        .map(|_| {
            if random.chance(15) {
                reference(random)
            } else {
                random.pick(PIECES).to_owned()
            }
        })
        .collect()
}

fn quoted(random: &mut Random, quote: char) -> String {
    let mut text = String::from(quote);
    for _ in 0..random.below(6) {
        match random.below(10) {
            0 => text.push_str(&reference(random)),
            1 if quote == '"' => text.push_str(random.pick(&["\\\"", "\\\\", "\\$", "\\n", "\\q"])),
            2 => text.push_str(random.pick(&[
                "\n",
                "\r\n",
                "\r",
                "\n#not a comment\n",
                "\n\n",
                "\n\"\n",
            ])),
            3 => text.push_str(random.pick(&[" ", "#", "'", "\"", "\\", "=", "=\""])),
            _ => text.push_str(random.pick(&["secret", "pa ss", "ä€", "MIIEvAIBAD+/=", "x"])),
        }
    }
    if random.chance(96) {
        text.push(quote);
    }
    text
}

fn value(random: &mut Random) -> String {
    let mut text = String::new();
    let parts = if random.chance(70) {
        1
    } else {
        random.below(3) + 2
    };
    for _ in 0..parts {
        match random.below(12) {
            0..=2 => text.push_str(&quoted(random, '"')),
            3 | 4 => text.push_str(&quoted(random, '\'')),
            5 => text.push_str(&reference(random)),
            6 => text.push_str(&space(random, 30)),
            _ => text.push_str(random.pick(&["plain", "base64:ZR+c/x==", "a=b", "x#y", "$", "\\"])),
        }
    }
    if random.chance(15) {
        text.push_str(&space(random, 50));
        text.push('#');
        text.push_str(&pieces(random, 3));
    }
    text
}

fn line(random: &mut Random) -> String {
    match random.below(30) {
        0 => space(random, 60),
        1..=3 => format!("{}#{}", space(random, 30), pieces(random, 5)),
        4 => format!("{}{}{}", space(random, 10), name(random), space(random, 10)),
        5 => pieces(random, 8),
        6 => "\"".to_owned(),
        _ => {
            let export = if random.chance(15) {
                format!("export{}", random.pick(&[" ", "  ", "\t", "\x0C", ""]))
            } else {
                String::new()
            };
            format!(
                "{}{export}{}{}={}{}",
                space(random, 20),
                name(random),
                space(random, 20),
                space(random, 20),
                value(random)
            )
        }
    }
}

fn text(random: &mut Random) -> Vec<u8> {
    let mut text = String::new();
    if random.chance(3) {
        text.push('\u{feff}');
    }
    let break_ = random.pick(&["\n", "\n", "\n", "\r\n", "\r"]);
    for index in 0..random.below(5) + 1 {
        if index > 0 {
            text.push_str(if random.chance(90) {
                break_
            } else {
                random.pick(&["\n", "\r\n", "\r"])
            });
        }
        text.push_str(&line(random));
    }
    if random.chance(50) {
        text.push_str(break_);
    }
    if random.chance(1) {
        let boundaries: Vec<usize> = (0..=text.len())
            .filter(|&at| text.is_char_boundary(at))
            .collect();
        text.insert(boundaries[random.below(boundaries.len())], '\0');
    }
    let mut bytes = text.into_bytes();
    if random.below(1000) < 3 {
        let at = random.below(bytes.len() + 1);
        bytes.insert(at, 0xff);
    }
    bytes
}

fn environment_number(name: &str, default: u64) -> u64 {
    std::env::var(name).map_or(default, |value| {
        value
            .parse()
            .unwrap_or_else(|_| panic!("{name} must be a number"))
    })
}

#[test]
fn random_texts_parse_as_phpdotenv_parses_them() {
    let seed = environment_number("HOVER_PARITY_SEED", 0x5EC2_E75D);
    let count = environment_number("HOVER_PARITY_CASES", 10_000) as usize;
    let mut random = Random(seed);
    let texts: Vec<Vec<u8>> = (0..count).map(|_| text(&mut random)).collect();
    let expected = phpdotenv(&texts);
    let mut problems = Vec::new();
    let mut accepted = 0;
    for (text, php) in texts.iter().zip(&expected) {
        accepted += usize::from(php.parsed.is_some());
        problems.extend(disagreement(text, php));
        problems.extend(check_error_names(text).err());
    }
    eprintln!("seed {seed}: phpdotenv accepted {accepted} of {count} texts");
    assert!(
        problems.is_empty(),
        "seed {seed}: {} of {count} texts differ:\n{}",
        problems.len(),
        problems[..problems.len().min(25)].join("\n")
    );
    // The generator must make both valid and invalid texts, or it tests little.
    assert!(
        (count / 5..count * 4 / 5).contains(&accepted),
        "phpdotenv accepted {accepted} of {count}"
    );
}
