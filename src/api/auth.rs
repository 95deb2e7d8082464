//! Who may use the API. With an API token configured, every request but
//! `GET /healthz` (and `GET /metrics` with `metrics_public`) must carry it: as `Authorization: Bearer <token>` (curl, the
//! CLI), or as the `hypersweep_token` cookie that `POST /v1/session` sets for
//! the dashboard (a browser cannot add a header to a page load or an
//! `EventSource`). A browser that asks for a page without it gets a sign-in
//! page instead. A worker token (`worker_token`, and the one a server gives
//! its own workers) lets in the worker protocol, `/v1/worker/...`, and
//! nothing else: any other route answers it 403. Independently of the token, a state-changing request whose
//! `Origin` is another site is refused: the cookie would otherwise ride along
//! on a forged form post.
use super::session::{digest, is_session_id, Session};
use super::{ApiError, AppState};
use crate::config::ApiToken;
use crate::store::{Sessions as _, Store, StoreError};
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// The cookie that carries the token for the dashboard.
pub const COOKIE: &str = "hypersweep_token";
/// The page a browser gets instead of the dashboard until it has the token.
const SIGN_IN_PAGE: &str = include_str!("../../assets/dashboard/sign-in.html");

/// Middleware: without the configured token (header or cookie), a request
/// gets 401; with none configured, everything passes.
pub async fn require_token(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let path = request.uri().path();
    let protocol_route = path.starts_with("/v1/worker/");
    // A worker token speaks the worker protocol and nothing else.
    let worker_token = bearer_tokens(request.headers())
        .any(|t| state.worker_tokens.iter().any(|w| w.matches(t.as_bytes())));
    if worker_token {
        return match protocol_route {
            true => next.run(request).await,
            false => ApiError::Forbidden(format!(
                "a worker token may only speak the worker protocol (/v1/worker/...), not {} {}",
                request.method(),
                path.chars().take(80).collect::<String>().escape_debug()
            ))
            .into_response(),
        };
    }
    let Some(token) = &state.api_token else {
        return match protocol_route && !state.worker_tokens.is_empty() {
            true => ApiError::Unauthorized(
                "the worker protocol needs the worker token: send `Authorization: Bearer <token>`"
                    .into(),
            )
            .into_response(),
            false => next.run(request).await,
        };
    };
    let read = matches!(*request.method(), Method::GET | Method::HEAD);
    let health_check = read && path == "/healthz";
    let public_metrics = read && state.metrics_public && path == "/metrics";
    if health_check || public_metrics {
        return next.run(request).await;
    }
    let presented = match presented(request.headers(), token, &state.store).await {
        Ok(presented) => presented,
        Err(e) => return ApiError::from(e).into_response(),
    };
    match presented {
        Presented::Right(session) => {
            let mut request = request;
            request.extensions_mut().insert(session);
            next.run(request).await
        }
        Presented::Nothing if wants_page(&request) => sign_in_page(),
        Presented::Wrong if wants_page(&request) => sign_in_page(),
        Presented::Nothing => ApiError::Unauthorized(
            "this server needs its API token: send `Authorization: Bearer <token>`".into(),
        )
        .into_response(),
        Presented::Wrong => {
            ApiError::Unauthorized("the API token is wrong, or the session has ended".into())
                .into_response()
        }
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
    if safe {
        return next.run(request).await;
    }
    let host = request
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .or_else(|| request.uri().authority().map(|a| a.as_str()));
    // Every `Origin` must be this server's: a browser sends one, so a
    // second is forged, and checking only the first would let it through.
    for origin in request.headers().get_all(header::ORIGIN) {
        let origin = origin.to_str().unwrap_or("");
        if !host.is_some_and(|host| is_same_origin(origin, host)) {
            let shown: String = origin.chars().take(80).collect();
            return ApiError::ForbiddenOrigin(format!(
                "a {} from the page of another site (origin `{}`) is refused",
                request.method(),
                shown.escape_debug()
            ))
            .into_response();
        }
    }
    next.run(request).await
}

/// What a request carried, compared with the token and the open sessions.
#[derive(Debug, PartialEq)]
enum Presented {
    Nothing,
    Wrong,
    /// Let in; with the session its cookie named, if that is what let it in.
    Right(Session),
}

impl PartialEq for Session {
    fn eq(&self, other: &Session) -> bool {
        self.0 == other.0
    }
}

/// Checks the bearer token and every `hypersweep_token` cookie; any match lets in.
async fn presented(
    headers: &HeaderMap,
    token: &ApiToken,
    store: &Store,
) -> Result<Presented, StoreError> {
    let mut outcome = Presented::Nothing;
    for candidate in bearer_tokens(headers) {
        if token.matches(candidate.as_bytes()) {
            return Ok(Presented::Right(Session(None)));
        }
        outcome = Presented::Wrong;
    }
    let cookies = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| {
            let (name, value) = pair.trim().split_once('=')?;
            (name == COOKIE).then_some(value)
        });
    for candidate in cookies.take(4) {
        if is_session_id(candidate) && store.session_is_open(&digest(token, candidate)).await? {
            return Ok(Presented::Right(Session(Some(candidate.to_string()))));
        }
        outcome = Presented::Wrong;
    }
    Ok(outcome)
}

/// The credentials of every `Authorization: Bearer` header.
fn bearer_tokens(headers: &HeaderMap) -> impl Iterator<Item = &str> {
    headers
        .get_all(header::AUTHORIZATION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|v| {
            let (scheme, credentials) = v.trim().split_once(' ')?;
            scheme
                .eq_ignore_ascii_case("bearer")
                .then(|| credentials.trim())
        })
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
    use crate::api::session::new_session_id;
    use axum::http::HeaderValue;

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

    #[tokio::test]
    async fn the_token_comes_as_a_bearer_header_or_an_open_sessions_cookie() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("auth.db").display());
        let store = Store::open(&url, true).await.unwrap();
        let token = ApiToken::new("0123456789abcdef").unwrap();
        let id = new_session_id();
        store
            .open_session(&digest(&token, &id), 60_000)
            .await
            .unwrap();
        let check = |pairs: Vec<(header::HeaderName, String)>| {
            let (store, token) = (store.clone(), token.clone());
            async move {
                let mut headers = HeaderMap::new();
                for (name, value) in pairs {
                    headers.append(name, HeaderValue::from_str(&value).unwrap());
                }
                presented(&headers, &token, &store).await.unwrap()
            }
        };
        let (auth, cookie) = (header::AUTHORIZATION, header::COOKIE);
        let bearer = Presented::Right(Session(None));
        let session = Presented::Right(Session(Some(id.clone())));
        assert_eq!(check(vec![]).await, Presented::Nothing);
        for (value, expected) in [
            ("Bearer 0123456789abcdef", &bearer),
            ("bearer  0123456789abcdef ", &bearer),
            ("Bearer 0123456789abcdeF", &Presented::Wrong),
            ("Basic 0123456789abcdef", &Presented::Nothing),
        ] {
            assert_eq!(
                &check(vec![(auth.clone(), value.into())]).await,
                expected,
                "{value}"
            );
        }
        let with_cookie = |v: String| vec![(cookie.clone(), v)];
        assert_eq!(
            check(with_cookie(format!("a=1; {COOKIE}={id}"))).await,
            session
        );
        // The token itself is no cookie any more, nor is an unknown id.
        assert_eq!(
            check(with_cookie(format!("{COOKIE}=0123456789abcdef"))).await,
            Presented::Wrong
        );
        assert_eq!(
            check(with_cookie(format!("{COOKIE}={}", new_session_id()))).await,
            Presented::Wrong
        );
        assert_eq!(
            check(vec![
                (auth.clone(), "Bearer wrong".into()),
                (cookie.clone(), format!("{COOKIE}={id}"))
            ])
            .await,
            session
        );
        // Another token: the same id opens nothing.
        let other = ApiToken::new("fedcba9876543210").unwrap();
        let mut headers = HeaderMap::new();
        headers.insert(
            cookie.clone(),
            HeaderValue::from_str(&format!("{COOKIE}={id}")).unwrap(),
        );
        assert_eq!(
            presented(&headers, &other, &store).await.unwrap(),
            Presented::Wrong
        );
        assert!(store.close_session(&digest(&token, &id)).await.unwrap());
        assert_eq!(
            check(with_cookie(format!("{COOKIE}={id}"))).await,
            Presented::Wrong
        );
    }
}
