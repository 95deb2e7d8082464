//! Pages of a list: `limit` and a cursor read from the query string, which
//! is percent-decoded like any form (`limit=%31%30` is `limit=10`).
use super::ApiError;

/// Items per page when the request names no `limit`.
pub const DEFAULT_PAGE: i64 = 100;
/// The largest `limit` a request may ask for.
pub const MAX_PAGE: i64 = 1000;

/// What a page request asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageRequest {
    pub limit: i64,
    /// The cursor's value, if the request gave one.
    pub cursor: Option<i64>,
}

/// `limit` (1 to [`MAX_PAGE`], default [`DEFAULT_PAGE`]) and the cursor
/// named `cursor` (an integer of at least `least`) from a raw query string;
/// other keys are ignored. A key given twice is refused rather than guessed at.
pub fn parse(query: &str, cursor: &'static str, least: i64) -> Result<PageRequest, ApiError> {
    let mut page = PageRequest {
        limit: DEFAULT_PAGE,
        cursor: None,
    };
    let (mut seen_limit, mut seen_cursor) = (false, false);
    for (key, value) in form_urlencoded::parse(query.as_bytes()) {
        let number = |field: &'static str| {
            value
                .trim()
                .parse::<i64>()
                .map_err(|_| ApiError::BadParameter {
                    field,
                    message: format!("`{}` is not an integer", short(&value)),
                })
        };
        let twice = |field: &'static str| ApiError::BadParameter {
            field,
            message: "is given more than once".into(),
        };
        if key == "limit" {
            if std::mem::replace(&mut seen_limit, true) {
                return Err(twice("limit"));
            }
            page.limit = number("limit")?;
            if !(1..=MAX_PAGE).contains(&page.limit) {
                return Err(ApiError::BadParameter {
                    field: "limit",
                    message: format!("must be between 1 and {MAX_PAGE}, got {}", page.limit),
                });
            }
        } else if key == cursor {
            if std::mem::replace(&mut seen_cursor, true) {
                return Err(twice(cursor));
            }
            let at = number(cursor)?;
            if at < least {
                return Err(ApiError::BadParameter {
                    field: cursor,
                    message: format!("must be {least} or more (a page's `next`), got {at}"),
                });
            }
            page.cursor = Some(at);
        }
    }
    Ok(page)
}

/// A query value cut to a length fit for an error message.
fn short(value: &str) -> String {
    let mut out: String = value.chars().take(40).collect();
    if out.len() < value.len() {
        out.push('…');
    }
    out.escape_debug().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(query: &str) -> &'static str {
        match parse(query, "after", -1) {
            Err(ApiError::BadParameter { field, .. }) => field,
            other => panic!("{query}: {other:?}"),
        }
    }

    #[test]
    fn limits_and_cursors_are_read_percent_decoded() {
        let ok = |q| parse(q, "after", -1).unwrap();
        assert_eq!(
            ok(""),
            PageRequest {
                limit: 100,
                cursor: None
            }
        );
        assert_eq!(
            ok("limit=7&after=3"),
            PageRequest {
                limit: 7,
                cursor: Some(3)
            }
        );
        assert_eq!(
            ok("limit=%31%30"),
            PageRequest {
                limit: 10,
                cursor: None
            }
        );
        assert_eq!(
            ok("%6Cimit=5"),
            PageRequest {
                limit: 5,
                cursor: None
            }
        );
        assert_eq!(
            ok("other=x&limit=1000"),
            PageRequest {
                limit: 1000,
                cursor: None
            }
        );
        assert_eq!(ok("after=-1").cursor, Some(-1));
        assert!(parse("before=0", "before", 1).is_err());
    }

    #[test]
    fn bad_pages_name_their_field() {
        for q in [
            "limit=0",
            "limit=1001",
            "limit=-1",
            "limit=ten",
            "limit=",
            "limit=1&limit=2",
        ] {
            assert_eq!(field(q), "limit", "{q}");
        }
        for q in [
            "after=-2",
            "after=x",
            "after=99999999999999999999",
            "after=1&after=2",
        ] {
            assert_eq!(field(q), "after", "{q}");
        }
    }
}
