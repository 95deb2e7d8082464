//! Which format a spec body is in, from the request's content type and,
//! when that does not say, from the body itself.

/// The input format of a spec body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Json,
    Yaml,
}

/// A content type that names neither JSON nor YAML.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("content-type `{0}` is not supported: send application/json or application/yaml")]
pub struct UnsupportedType(pub String);

impl Format {
    /// The format a body of `content_type` (the header's raw bytes, None
    /// without one) is in: JSON or YAML by type; without a type, or with
    /// the form type curl sends unless told otherwise, JSON if the body
    /// looks like JSON (starts with `{`), else YAML.
    pub fn of(content_type: Option<&[u8]>, body: &str) -> Result<Format, UnsupportedType> {
        let sniffed = || {
            if body.trim_start().starts_with('{') {
                Format::Json
            } else {
                Format::Yaml
            }
        };
        let Some(raw) = content_type else {
            return Ok(sniffed());
        };
        // A header value that is not visible ASCII names no type: it is
        // refused as the empty type, as HTTP header text must be ASCII.
        let content_type = std::str::from_utf8(raw)
            .ok()
            .filter(|t| t.bytes().all(|b| b == b'\t' || (0x20..0x7f).contains(&b)))
            .unwrap_or("")
            .to_ascii_lowercase();
        let essence = content_type.split(';').next().unwrap_or("").trim();
        match essence {
            "application/json" => Ok(Format::Json),
            "application/yaml" | "application/x-yaml" | "text/yaml" | "text/x-yaml"
            | "text/plain" => Ok(Format::Yaml),
            "application/x-www-form-urlencoded" => Ok(sniffed()),
            other => Err(UnsupportedType(other.to_string())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_type_decides_when_given() {
        let of = |t: &str, body| Format::of(Some(t.as_bytes()), body);
        assert_eq!(of("application/json", "a: 1"), Ok(Format::Json));
        assert_eq!(
            of("Application/JSON; charset=utf-8", "a: 1"),
            Ok(Format::Json)
        );
        for t in [
            "application/yaml",
            "application/x-yaml",
            "text/yaml",
            "text/x-yaml",
            "text/plain",
        ] {
            assert_eq!(of(t, "{}"), Ok(Format::Yaml), "{t}");
        }
    }

    #[test]
    fn without_a_type_the_body_decides() {
        assert_eq!(Format::of(None, "  {\"method\": 1}"), Ok(Format::Json));
        assert_eq!(Format::of(None, "method: grid"), Ok(Format::Yaml));
        let form = Some(&b"application/x-www-form-urlencoded"[..]);
        assert_eq!(Format::of(form, "{}"), Ok(Format::Json));
        assert_eq!(Format::of(form, "method: grid"), Ok(Format::Yaml));
    }

    #[test]
    fn other_types_are_refused_by_name() {
        let e = Format::of(Some(b"text/html; charset=utf-8"), "{}").unwrap_err();
        assert_eq!(
            e.to_string(),
            "content-type `text/html` is not supported: send application/json or application/yaml"
        );
        // Not ASCII: refused as the empty type.
        let e = Format::of(Some("t\u{e9}xt/yaml".as_bytes()), "{}").unwrap_err();
        assert_eq!(e, UnsupportedType(String::new()));
    }
}
