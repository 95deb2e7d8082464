//! Query strings of the analysis routes (plots, importance, exports): each
//! parameter at most once and every one known to the route; values
//! percent-decoded like any form. Errors name the parameter, never a
//! parser's raw text.
use crate::api::ApiError;

/// A query string's parameters, checked against the names a route takes.
#[derive(Debug, Default)]
pub struct Query {
    pairs: Vec<(&'static str, String)>,
}

impl Query {
    /// Reads `raw` (None: no query string); `known` are the route's parameters.
    pub fn parse(raw: Option<&str>, known: &[&'static str]) -> Result<Query, ApiError> {
        let mut pairs: Vec<(&'static str, String)> = Vec::new();
        for (key, value) in form_urlencoded::parse(raw.unwrap_or("").as_bytes()) {
            let Some(name) = known.iter().copied().find(|k| *k == key) else {
                return Err(ApiError::UnknownParameter {
                    field: short(&key),
                    expected: if known.is_empty() {
                        "none".into()
                    } else {
                        known.join(", ")
                    },
                });
            };
            if pairs.iter().any(|(k, _)| *k == name) {
                return Err(ApiError::BadParameter {
                    field: name,
                    message: "is given more than once".into(),
                });
            }
            pairs.push((name, value.into_owned()));
        }
        Ok(Query { pairs })
    }

    /// The value of a parameter, if given.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.as_str())
    }

    /// A boolean parameter (`true` or `false`), or `default` when absent.
    pub fn bool(&self, name: &'static str, default: bool) -> Result<bool, ApiError> {
        match self.get(name) {
            None => Ok(default),
            Some("true") => Ok(true),
            Some("false") => Ok(false),
            Some(other) => Err(ApiError::BadParameter {
                field: name,
                message: format!("must be true or false, got `{}`", short(other)),
            }),
        }
    }

    /// A non-negative integer parameter, if given.
    pub fn number(&self, name: &'static str) -> Result<Option<i64>, ApiError> {
        let Some(raw) = self.get(name) else {
            return Ok(None);
        };
        let canonical = !raw.is_empty() && raw.bytes().all(|b| b.is_ascii_digit());
        canonical
            .then(|| raw.parse::<i64>().ok())
            .flatten()
            .map(Some)
            .ok_or_else(|| ApiError::BadParameter {
                field: name,
                message: format!(
                    "must be a trial number (0, 1, 2, ...), got `{}`",
                    short(raw)
                ),
            })
    }
}

/// A value cut to a length fit for an error message, control characters escaped.
pub fn short(value: &str) -> String {
    let mut out: String = value.chars().take(40).collect();
    if out.len() < value.len() {
        out.push('…');
    }
    out.escape_debug().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(raw: &str) -> String {
        let q = Query::parse(Some(raw), &["kind", "trial", "include_pruned"]);
        let q = match q {
            Ok(q) => q,
            Err(ApiError::UnknownParameter { field, .. }) => return field,
            Err(other) => panic!("{raw}: {other:?}"),
        };
        let err = q
            .number("trial")
            .and_then(|_| q.bool("include_pruned", false));
        match err {
            Err(ApiError::BadParameter { field, .. }) => field.to_string(),
            other => panic!("{raw}: {other:?}"),
        }
    }

    #[test]
    fn known_parameters_read_and_bad_ones_are_named() {
        let q = Query::parse(
            Some("kind=slice&trial=%33&include_pruned=true"),
            &["kind", "trial", "include_pruned"],
        )
        .unwrap();
        assert_eq!(q.get("kind"), Some("slice"));
        assert_eq!(q.number("trial").unwrap(), Some(3));
        assert!(q.bool("include_pruned", false).unwrap());
        assert!(Query::parse(None, &[]).unwrap().get("kind").is_none());
        assert_eq!(field("limt=3"), "limt");
        assert_eq!(field("trial=abc"), "trial");
        assert_eq!(field("trial=-1"), "trial");
        assert_eq!(field("trial=99999999999999999999"), "trial");
        assert_eq!(field("include_pruned=yes"), "include_pruned");
        assert!(matches!(
            Query::parse(Some("kind=a&kind=b"), &["kind"]),
            Err(ApiError::BadParameter { field: "kind", .. })
        ));
    }
}
