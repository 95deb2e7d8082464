//! Who may use the API. With an API token configured, every request but
//! `GET /healthz` must carry it: as `Authorization: Bearer <token>` (curl, the
//! CLI), or as the `hypersweep_token` cookie that `POST /v1/session` sets for
//! the dashboard (a browser cannot add a header to a page load or an
//! `EventSource`). A browser that asks for a page without it gets a sign-in
//! page instead. Independently of the token, a state-changing request whose
//! `Origin` is another site is refused: the cookie would otherwise ride along
//! on a forged form post.
use super::{ApiError, AppState};
use crate::config::ApiToken;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// The cookie that carries the token for the dashboard.
pub const COOKIE: &str = "hypersweep_token";
/// How long a browser keeps the cookie: it asks for the token once a month at most.
const COOKIE_MAX_AGE_SECONDS: u64 = 30 * 24 * 60 * 60;
/// The page a browser gets instead of the dashboard until it has the token.
const SIGN_IN_PAGE: &str = include_str!("../../assets/dashboard/sign-in.html");

/// Middleware: without the configured token (header or cookie), a request
/// gets 401; with none configured, everything passes.
pub async fn require_token(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let Some(token) = &state.api_token else {
        return next.run(request).await;
    };
    let health_check = request.uri().path() == "/healthz"
        && matches!(*request.method(), Method::GET | Method::HEAD);
    if health_check {
        return next.run(request).await;
    }
    match presented(request.headers(), token) {
        Presented::Right => next.run(request).await,
        Presented::Nothing if wants_page(&request) => sign_in_page(),
        Presented::Wrong if wants_page(&request) => sign_in_page(),
        Presented::Nothing => ApiError::Unauthorized(
            "this server needs its API token: send `Authorization: Bearer <token>`".into(),
        )
        .into_response(),
        Presented::Wrong => ApiError::Unauthorized("the API token is wrong".into()).into_response(),
    }
}

/// `POST /v1/session`: the dashboard's sign-in. The request got here with the
/// right token (the layer saw to that), so the answer sets it as a cookie
/// scripts cannot read (`HttpOnly`) and no other site's request carries
/// (`SameSite=Strict`). Without a configured token there is nothing to keep.
#[utoipa::path(post, path = "/v1/session", tag = "meta",
    responses(
        (status = 204, description = "Signed in: the token is set as an HttpOnly cookie (none without a configured token)."),
        (status = 401, description = "No token, or the wrong one.", body = super::error::ErrorBody),
    ))]
pub async fn sign_in(State(state): State<AppState>) -> Response {
    let Some(token) = &state.api_token else {
        return StatusCode::NO_CONTENT.into_response();
    };
    let cookie = format!(
        "{COOKIE}={}; Path=/; Max-Age={COOKIE_MAX_AGE_SECONDS}; HttpOnly; SameSite=Strict",
        token.expose()
    );
    match HeaderValue::from_str(&cookie) {
        Ok(cookie) => (StatusCode::NO_CONTENT, [(header::SET_COOKIE, cookie)]).into_response(),
        // A validated token is header-safe; this is never reached.
        Err(_) => ApiError::Internal("the API token does not fit a cookie".into()).into_response(),
    }
}

/// Middleware: a state-changing request whose `Origin` names another
/// host:port than the one it was sent to gets 403. Requests without `Origin`
/// (curl, the CLI) pass: only browsers send it, and they always do on such
/// requests.
pub async fn same_origin(request: Request, next: Next) -> Response {
    let safe = matches!(
        *request.method(),
        Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE
    );
    if let (false, Some(origin)) = (safe, request.headers().get(header::ORIGIN)) {
        let host = request
            .headers()
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .or_else(|| request.uri().authority().map(|a| a.as_str()));
        let origin = origin.to_str().unwrap_or("");
        if !host.is_some_and(|host| is_same_origin(origin, host)) {
            return ApiError::ForbiddenOrigin(format!(
                "a {} from the page of another site (origin `{origin}`) is refused",
                request.method()
            ))
            .into_response();
        }
    }
    next.run(request).await
}

/// What a request carried, compared with the token.
#[derive(Debug, PartialEq)]
enum Presented {
    Nothing,
    Wrong,
    Right,
}

/// Checks the bearer token and every `hypersweep_token` cookie; any match lets in.
fn presented(headers: &HeaderMap, token: &ApiToken) -> Presented {
    let bearer = headers
        .get_all(header::AUTHORIZATION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|v| {
            let (scheme, credentials) = v.trim().split_once(' ')?;
            scheme
                .eq_ignore_ascii_case("bearer")
                .then(|| credentials.trim())
        });
    let cookies = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| {
            let (name, value) = pair.trim().split_once('=')?;
            (name == COOKIE).then_some(value)
        });
    let mut outcome = Presented::Nothing;
    for candidate in bearer.chain(cookies) {
        if token.matches(candidate.as_bytes()) {
            return Presented::Right;
        }
        outcome = Presented::Wrong;
    }
    outcome
}

/// A browser loading a page (not a script's fetch or an event stream).
fn wants_page(request: &Request) -> bool {
    matches!(*request.method(), Method::GET | Method::HEAD)
        && request
            .headers()
            .get(header::ACCEPT)
            .and_then(|a| a.to_str().ok())
            .is_some_and(|a| a.contains("text/html"))
}

fn sign_in_page() -> Response {
    (
        StatusCode::UNAUTHORIZED,
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::WWW_AUTHENTICATE, r#"Bearer realm="hypersweep""#),
            (header::CACHE_CONTROL, "no-store"),
        ],
        SIGN_IN_PAGE,
    )
        .into_response()
}

/// Whether an `Origin` (`scheme://host[:port]`) names `host` (a `Host`
/// header), a default port written or not.
fn is_same_origin(origin: &str, host: &str) -> bool {
    let Some((scheme, authority)) = origin.split_once("://") else {
        return false; // `null`: a sandboxed page or a file
    };
    let default_port = match scheme.to_ascii_lowercase().as_str() {
        "http" => ":80",
        "https" => ":443",
        _ => return false,
    };
    let plain = |a: &str| {
        let a = a.to_ascii_lowercase();
        match a.strip_suffix(default_port) {
            Some(bare) => bare.to_string(),
            None => a,
        }
    };
    !authority.is_empty() && !authority.contains('/') && plain(authority) == plain(host)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_match_their_own_host_only() {
        assert!(is_same_origin("http://127.0.0.1:8080", "127.0.0.1:8080"));
        assert!(is_same_origin("http://Example.org", "example.org:80"));
        assert!(is_same_origin("https://example.org:443", "example.org"));
        assert!(is_same_origin("http://[::1]:8080", "[::1]:8080"));
        assert!(!is_same_origin("http://127.0.0.1:8081", "127.0.0.1:8080"));
        assert!(!is_same_origin("http://evil.example", "127.0.0.1:8080"));
        assert!(!is_same_origin("https://example.org", "example.org:80"));
        assert!(!is_same_origin("null", "127.0.0.1:8080"));
        assert!(!is_same_origin("file://", "127.0.0.1:8080"));
        assert!(!is_same_origin("http://127.0.0.1:8080/x", "127.0.0.1:8080"));
    }

    #[test]
    fn the_token_comes_as_a_bearer_header_or_a_cookie() {
        let token = ApiToken::new("0123456789abcdef").unwrap();
        let check = |pairs: &[(header::HeaderName, &str)]| {
            let mut headers = HeaderMap::new();
            for (name, value) in pairs {
                headers.append(name, HeaderValue::from_str(value).unwrap());
            }
            presented(&headers, &token)
        };
        assert_eq!(check(&[]), Presented::Nothing);
        let auth = header::AUTHORIZATION;
        assert_eq!(
            check(&[(auth.clone(), "Bearer 0123456789abcdef")]),
            Presented::Right
        );
        assert_eq!(
            check(&[(auth.clone(), "bearer  0123456789abcdef ")]),
            Presented::Right
        );
        assert_eq!(
            check(&[(auth.clone(), "Bearer 0123456789abcdeF")]),
            Presented::Wrong
        );
        assert_eq!(
            check(&[(auth.clone(), "Basic 0123456789abcdef")]),
            Presented::Nothing
        );
        let cookie = header::COOKIE;
        assert_eq!(
            check(&[(cookie.clone(), "a=1; hypersweep_token=0123456789abcdef")]),
            Presented::Right
        );
        assert_eq!(
            check(&[(cookie.clone(), "hypersweep_token=nope; b=0123456789abcdef")]),
            Presented::Wrong
        );
        assert_eq!(
            check(&[
                (auth, "Bearer wrong"),
                (cookie, "hypersweep_token=0123456789abcdef")
            ]),
            Presented::Right
        );
    }
}
