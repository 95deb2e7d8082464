//! A linear pre-scan of a spec body, before any parser sees it: how deep its
//! lists and mappings nest and how many nodes it has.
//!
//! libyaml spends, on every token, time proportional to the flow collections
//! open around it (`{a: {a: ... 1}}` of 500 KB took 78 s before serde_yaml's
//! recursion limit could refuse it), and it keeps every event of a document
//! in memory. So the YAML scan follows libyaml's scanner (unsafe-libyaml
//! 0.2.11, `scanner.rs`) where it decides where a token starts and ends:
//! quotes, comments, plain and block scalars, tags and indentation. A body
//! that libyaml would reject is scanned up to where libyaml stops; past that
//! point nothing it does costs anything.
use super::Format;

mod yaml;

#[cfg(test)]
pub(super) use yaml::yaml_depth;

/// What the scan found over a cap; lines and columns count from 1.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Exceeded {
    /// A list or mapping opens deeper than the cap at this line and column.
    Nesting { line: usize, column: usize },
    /// The body has more nodes (scalars, lists, mappings) than the cap.
    Nodes,
}

/// Scans `text` in `format`; `Err` at the first cap exceeded.
pub(super) fn check(
    text: &str,
    format: Format,
    max_nesting: usize,
    max_nodes: usize,
) -> Result<(), Exceeded> {
    match format {
        Format::Json => json(text.as_bytes(), max_nesting),
        Format::Yaml => yaml::check(text.as_bytes(), max_nesting, max_nodes),
    }
}

/// JSON: brackets outside strings. serde_json is linear and builds nothing
/// but the value (whose nodes `document` counts), so this only has to refuse
/// deep bodies early, not to agree with it on invalid ones.
fn json(s: &[u8], max_nesting: usize) -> Result<(), Exceeded> {
    let mut depth = 0usize;
    let (mut in_string, mut escaped) = (false, false);
    for (i, &b) in s.iter().enumerate() {
        match b {
            _ if in_string && escaped => escaped = false,
            b'\\' if in_string => escaped = true,
            b'"' => in_string = !in_string,
            _ if in_string => {}
            b'[' | b'{' => {
                depth += 1;
                if depth > max_nesting {
                    let line_start = s[..i]
                        .iter()
                        .rposition(|&c| c == b'\n')
                        .map_or(0, |p| p + 1);
                    return Err(Exceeded::Nesting {
                        line: 1 + s[..i].iter().filter(|&&c| c == b'\n').count(),
                        column: 1 + String::from_utf8_lossy(&s[line_start..i]).chars().count(),
                    });
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    Ok(())
}
