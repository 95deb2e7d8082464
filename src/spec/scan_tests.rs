//! The pre-scan against libyaml: it must see every flow collection libyaml
//! opens (or an attacker hides a deep document from it), and count nothing
//! that libyaml reads as text (or it refuses honest specs).
use super::scan::{check, yaml_depth, Exceeded};
use super::Format;
use proptest::prelude::*;
use serde_json::Value;

/// Nesting of lists and mappings in a parsed value.
fn depth(value: &Value) -> usize {
    match value {
        Value::Array(items) => 1 + items.iter().map(depth).max().unwrap_or(0),
        Value::Object(map) => 1 + map.values().map(depth).max().unwrap_or(0),
        _ => 0,
    }
}

fn parsed_depth(text: &str) -> Option<usize> {
    serde_yaml::from_str::<Value>(text).ok().map(|v| depth(&v))
}

const DEEP: &str = "{a: {a: {a: {a: {a: {a: {a: {a: {a: {a: {a: {a: 1}}}}}}}}}}}}";

#[test]
fn depth_counts_flow_collections_and_block_levels() {
    let cases: &[(&str, usize)] = &[
        ("method: grid\n", 1),
        ("a: [1, [2, [3]]]\n", 4),
        ("a:\n  b:\n    c: 1\n", 3),
        ("- - - 1\n", 3),
        ("[[[[1]]]]", 4),
        ("{a: {b: 1}}", 2),
        ("x: 1\n---\n[[1]]\n", 2),
        (DEEP, 12),
    ];
    for (text, expected) in cases {
        assert_eq!(yaml_depth(text), *expected, "{text:?}");
    }
}

/// Text that only looks like nesting: quotes, comments, block scalars,
/// plain scalars with brackets, tags, escapes.
#[test]
fn text_that_looks_like_brackets_is_not_nesting() {
    let cases = [
        "name: '[[[[[[[[[[[[[['\n",
        "name: \"{{{{{{{{{{{{{{\\\"{{{{\"\n",
        "# [[[[[[[[[[[[[[[[[[[\nmethod: grid\n",
        "description: |\n  [[[[[[[[[[[[[[[[\n  {{{{{{{{{{{{{{{{\nmethod: grid\n",
        "description: >-\n    {{{{{{{{{{{{{{{{\n\n    [[[[[[[[[[\nmethod: grid\n",
        "name: a[[[[[[[[[[[[[[[[\n",
        "name: it's [[[[[[[[[[[[[[[[\n",
        "name: x #[[[[[[[[[[[[[\n",
        "name: !<tag:x[[[[[[[[[[[[]> y\n",
        "name: a\n  [[[[[[[[[[[[[[\n",
    ];
    for text in cases {
        assert!(yaml_depth(text) <= 2, "{text:?}: {}", yaml_depth(text));
        assert!(parsed_depth(text).is_some(), "libyaml accepts {text:?}");
    }
}

/// Ways to make a naive scanner believe the rest of the body is a string or
/// a comment, each followed by deep nesting that libyaml does parse.
#[test]
fn nesting_after_text_that_looks_like_a_string_is_seen() {
    let tricks = [
        "name: it's\n",
        "name: a 'b\n",
        "name: a \"b\n",
        "name: a#'b\n",
        "name: it is\n 'not a quote\n",
        "description: |\n  '\n",
        "description: >\n  \"\n",
        "name: !!str x'y\n",
        "name: 'it''s'\n",
        "name: \"a\\\"b\"\n",
        "name: \"a\\\nb\"\n",
        "key: [a', b\"]\n",
        "%YAML 1.1\n--- \nname: '\n  '\n",
        "name: a\r\n 'b\r\n",
    ];
    // A byte order mark takes a column: this mapping starts at column 1.
    let bom = format!("\u{feff}name: a\u{2028}  'b\n deep: {DEEP}\n");
    for text in tricks
        .map(|trick| format!("{trick}deep: {DEEP}\n"))
        .into_iter()
        .chain([bom])
    {
        let parsed = parsed_depth(&text);
        assert!(
            parsed.is_some_and(|d| d >= 12),
            "libyaml parses {text:?}: {parsed:?}"
        );
        assert!(yaml_depth(&text) >= 12, "{text:?}: {}", yaml_depth(&text));
    }
}

#[test]
fn caps_stop_the_scan() {
    let deep = format!("a: {}1{}", "[".repeat(40), "]".repeat(40));
    assert!(matches!(
        check(&deep, Format::Yaml, 32, 1000),
        Err(Exceeded::Nesting {
            line: 1,
            column: 35
        })
    ));
    assert_eq!(check(&deep, Format::Yaml, 41, 1000), Ok(()));
    let json = format!(
        "{{\"a\": \"[[[\", \"b\": {}1{}}}",
        "[".repeat(40),
        "]".repeat(40)
    );
    assert!(matches!(
        check(&json, Format::Json, 32, 1000),
        Err(Exceeded::Nesting {
            line: 1,
            column: 50
        })
    ));
    let long = format!("[{}]", "1, ".repeat(2000));
    assert_eq!(check(&long, Format::Yaml, 32, 1000), Err(Exceeded::Nodes));
    assert_eq!(check(&long, Format::Yaml, 32, 3000), Ok(()));
}

/// Pieces of YAML that move libyaml's token boundaries.
const PIECES: &[&str] = &[
    "[",
    "]",
    "{",
    "}",
    ",",
    ", ",
    ": ",
    ":",
    "? ",
    "?",
    "- ",
    "-",
    "\n",
    "\n  ",
    "\n    ",
    " ",
    "\t",
    "#c",
    " #c",
    "'",
    "''",
    "\"",
    "\\\"",
    "\\",
    "a",
    "b c",
    "a'b",
    "a\"b",
    "a#b",
    "&x ",
    "*x",
    "!t ",
    "!<a[b]> ",
    "|\n",
    ">-\n",
    "|2\n",
    "---\n",
    "...\n",
    "%YAML 1.2\n",
    "\r\n",
    "\r",
    "\u{85}",
    "\u{2028}",
    "é",
    "key: ",
    "- [",
    "{a: ",
    "\"\\x41\"",
    "'[",
    "\"{",
    "|+\n  ",
    "\u{feff}",
];

fn soup() -> impl Strategy<Value = String> {
    proptest::collection::vec(proptest::sample::select(PIECES), 0..48).prop_map(|p| p.concat())
}

/// Scalars and collections as they appear in specs, with the characters
/// that end or start tokens inside them.
const SCALARS: &[&str] = &[
    "a",
    "it's",
    "a'b",
    "a\"b",
    "a#b",
    "x [y",
    "x {y",
    "a:b",
    "-x",
    "?x",
    ":x",
    "é",
    "a  b",
    "1e3",
    "'it''s'",
    "'a \"#[{'",
    "\"a\\\"b\"",
    "\"it's [#\"",
    "\"\\x41\\u00e9\"",
    "[a, 'b]', \"c}\"]",
    "{k: v, 'x': [1]}",
    "&x a",
    "*x",
    "!!str b",
    "[]",
    "{}",
    "'[['",
    "\"{{\"",
    "~",
    "a #[c",
];

/// A block mapping whose values are scalars, flow collections, block
/// scalars, block lists and mappings, and multi-line scalars, each with
/// characters that end or start tokens; each entry ends its line.
fn entries() -> impl Strategy<Value = Vec<String>> {
    let entry = (
        proptest::sample::select(SCALARS),
        proptest::sample::select(SCALARS),
        0u8..7,
    )
        .prop_map(|(scalar, other, kind)| match kind {
            0 => format!("|\n  {other}\n  {scalar}\n"),
            1 => format!("{scalar}\n   {other}\n"),
            2 => format!("{scalar} # {other}\n"),
            3 => format!("\n  - {scalar}\n  - {other}\n"),
            4 => format!("\n  sub: {scalar}\n  'o': {other}\n"),
            5 => format!(">-\n    {scalar}\n\n    {other}\n"),
            _ => format!("{scalar}\n"),
        });
    proptest::collection::vec(entry, 1..10).prop_map(|entries| {
        entries
            .into_iter()
            .enumerate()
            .map(|(i, value)| format!("k{i}: {value}"))
            .collect()
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 4000, failure_persistence: None, ..ProptestConfig::default() })]

    /// Block documents libyaml parses, and the same with deep nesting as
    /// the value of an extra key at some line: the scan sees the levels.
    #[test]
    fn the_scan_sees_nesting_among_block_entries(entries in entries(), at in any::<proptest::sample::Index>()) {
        let text = entries.concat();
        if let Some(d) = parsed_depth(&text) {
            let seen = yaml_depth(&text);
            prop_assert!(d <= 2 * seen + 1, "{:?}: parsed {} scanned {}", text, d, seen);
        }
        let mut deep = entries;
        deep.insert(at.index(deep.len() + 1), format!("deep: {DEEP}\n"));
        let deep = deep.concat();
        if let Some(d) = parsed_depth(&deep) {
            let seen = yaml_depth(&deep);
            prop_assert!(d <= 2 * seen + 1, "{:?}: parsed {} scanned {}", deep, d, seen);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 4000, failure_persistence: None, ..ProptestConfig::default() })]

    /// Whatever libyaml parses nests no deeper than the scan saw, give or
    /// take block sequences at their parent's indentation (which open a
    /// level without an indentation of their own).
    #[test]
    fn the_scan_sees_every_level_libyaml_parses(text in soup(), at in any::<proptest::sample::Index>()) {
        if let Some(d) = parsed_depth(&text) {
            let seen = yaml_depth(&text);
            prop_assert!(d <= 2 * seen + 1, "{:?}: parsed {} scanned {}", text, d, seen);
        }
        // The same soup with deep nesting inside it: wherever libyaml
        // parses it, the scan sees the nesting too.
        let cut = at.index(text.len() + 1);
        let cut = (0..=cut).rev().find(|&i| text.is_char_boundary(i)).unwrap_or(0);
        let deep = format!("{}{DEEP}{}", &text[..cut], &text[cut..]);
        if let Some(d) = parsed_depth(&deep) {
            let seen = yaml_depth(&deep);
            prop_assert!(d <= 2 * seen + 1, "{:?}: parsed {} scanned {}", deep, d, seen);
        }
    }
}
