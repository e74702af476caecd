//! The dotenv parser against phpdotenv itself.
//!
//! Every case is parsed twice: by `hover_core::dotenv` and by the vlucas/phpdotenv that
//! Laravel uses (Debian's php-vlucas-phpdotenv, run by `php`), and the two must agree on
//! the variables and values, or both refuse the text. The expected values are phpdotenv's,
//! so none comes from the code under test.

use std::collections::BTreeMap;
use std::io::Write;
use std::process::{Command, Stdio};

use hover_core::dotenv;

const PHPDOTENV: &str = r#"<?php
require '/usr/share/php/Dotenv/autoload.php';
$results = [];
foreach (json_decode(stream_get_contents(STDIN), true) as $case) {
    try {
        $parsed = array_filter(Dotenv\Dotenv::parse($case), fn ($v) => $v !== null);
        $results[] = ['variables' => (object) $parsed];
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

fn ours(text: &str) -> Option<BTreeMap<String, String>> {
    let entries = dotenv::parse(text.as_bytes()).ok()?;
    Some(
        dotenv::load(&entries, |_| None)
            .variables
            .into_iter()
            .map(|(name, value)| (name, value.as_str().to_owned()))
            .collect(),
    )
}

fn phpdotenvs(cases: &[&str]) -> Vec<Option<BTreeMap<String, String>>> {
    let mut php = Command::new("php")
        .arg("-r")
        .arg(PHPDOTENV.trim_start_matches("<?php"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("php runs (scripts/setup.sh installs php8.2-cli and php-vlucas-phpdotenv)");
    php.stdin
        .take()
        .unwrap()
        .write_all(serde_json::to_string(cases).unwrap().as_bytes())
        .unwrap();
    let output = php.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "php failed: {}",
        String::from_utf8_lossy(&output.stdout)
    );
    let results: Vec<serde_json::Value> = serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&output.stdout)));
    results
        .into_iter()
        .map(|result| {
            result.get("variables").map(|variables| {
                variables
                    .as_object()
                    .unwrap()
                    .iter()
                    .map(|(name, value)| (name.clone(), value.as_str().unwrap().to_owned()))
                    .collect()
            })
        })
        .collect()
}

#[test]
fn the_parser_agrees_with_phpdotenv() {
    let expected = phpdotenvs(CASES);
    assert_eq!(expected.len(), CASES.len());
    let mut disagreements = Vec::new();
    for (case, expected) in CASES.iter().zip(expected) {
        let actual = ours(case);
        if actual != expected {
            disagreements.push(format!(
                "{case:?}\n  phpdotenv: {expected:?}\n  ours:      {actual:?}"
            ));
        }
    }
    assert!(
        disagreements.is_empty(),
        "{} of {} cases differ:\n{}",
        disagreements.len(),
        CASES.len(),
        disagreements.join("\n")
    );
}

/// The one deliberate difference: phpdotenv drops a double-quoted value that is never
/// closed, and everything after it; here that is an error, since it would lose secrets.
#[test]
fn an_unclosed_double_quote_is_an_error_where_phpdotenv_drops_the_rest() {
    for (text, line) in [("A=1\nKEY=\"never\nclosed\nB=2\n", 2), ("A=1\nKEY=\"x", 2)] {
        let expected = phpdotenvs(&[text]).remove(0).expect("phpdotenv accepts it");
        assert_eq!(
            expected.keys().collect::<Vec<_>>(),
            ["A"],
            "phpdotenv drops KEY"
        );
        let error = dotenv::parse(text.as_bytes()).unwrap_err();
        assert_eq!((error.line, error.name.as_deref()), (line, Some("KEY")));
    }
}
