//! Query strings hold only what a route reads: a parameter the route does
//! not take (a typo such as `limt`, a filter it does not have) is refused
//! with 400 naming it, rather than silently ignored. Names are compared
//! percent-decoded, as the routes read them.
use super::ApiError;
use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// The query parameters each route takes; a route not listed takes none.
const TAKES: &[(&str, &[&str])] = &[
    ("/v1/sweeps", &["limit", "before"]),
    (
        "/v1/sweeps/{id}/trials",
        &["limit", "after", "offset", "state", "sort"],
    ),
    (
        "/v1/sweeps/{id}/plot.svg",
        &["kind", "trial", "param", "x", "y", "include_pruned"],
    ),
    ("/v1/sweeps/{id}/importance", &["include_pruned"]),
];

/// The parameters `route` takes.
pub fn taken_by(route: &str) -> &'static [&'static str] {
    TAKES
        .iter()
        .find(|(r, _)| *r == route)
        .map_or(&[], |(_, known)| known)
}

/// The first parameter of `query` that is not in `known`, if any.
pub fn unknown_in(query: &str, known: &[&str]) -> Option<String> {
    form_urlencoded::parse(query.as_bytes())
        .map(|(name, _)| name)
        // `?` alone, or `a=1&&b=2`, names nothing.
        .filter(|name| !name.is_empty())
        .find(|name| !known.contains(&name.as_ref()))
        .map(|name| name.chars().take(40).collect::<String>())
}

/// Middleware (a route layer, so the matched route is known): refuses a
/// request whose query string names a parameter its route does not take.
pub async fn known_only(request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned());
    if let (Some(route), Some(query)) = (route, request.uri().query()) {
        let known = taken_by(&route);
        if let Some(name) = unknown_in(query, known) {
            return ApiError::UnknownParameter {
                name,
                known: known.to_vec(),
            }
            .into_response();
        }
    }
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_routes_own_parameters_pass() {
        let known = taken_by("/v1/sweeps/{id}/trials");
        assert_eq!(unknown_in("limit=5&after=3&state=completed", known), None);
        assert_eq!(unknown_in("limt=5", known).as_deref(), Some("limt"));
        assert_eq!(unknown_in("%6Cimit=5", known), None);
        assert_eq!(unknown_in("", known), None);
        assert_eq!(unknown_in("&&limit=1", known), None);
        assert_eq!(
            unknown_in("x=1", taken_by("/v1/sweeps/{id}")).as_deref(),
            Some("x")
        );
        assert!(taken_by("/v1/sweeps/{id}/best").is_empty());
    }
}
