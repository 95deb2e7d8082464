//! Checks at the edge, before any route or credential: the `Host` a request
//! names must be one this server answers to (a page on a rebound DNS name
//! could otherwise drive the API from the user's browser), and a body
//! announced as over the limit is refused at once instead of being waited for.
use super::ApiError;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

/// The `Host` values a server answers to.
#[derive(Debug, Clone)]
pub struct AllowedHosts {
    /// (lowercase host, port or None for any port).
    names: Vec<(String, Option<u16>)>,
    /// Any IP literal on the listen port: the server listens on every address.
    any_ip_on: Option<u16>,
    /// `*` was configured: every host.
    any: bool,
}

impl AllowedHosts {
    /// The hosts of `configured` (`name` for any port, `name:port` for that
    /// port, `*` for all); when it is empty, the listen address itself, and
    /// `localhost`, `127.0.0.1` and `[::1]` on its port when it is loopback,
    /// or any IP address on its port when it is unspecified (`0.0.0.0`): a
    /// literal address cannot be rebound, only a name can.
    pub fn new(configured: &[String], listen: SocketAddr) -> AllowedHosts {
        let mut hosts = AllowedHosts {
            names: Vec::new(),
            any_ip_on: None,
            any: false,
        };
        for entry in configured {
            if entry.trim() == "*" {
                hosts.any = true;
            } else if let Some((host, port)) = split_host(entry) {
                hosts.names.push((host, port));
            }
        }
        // The server's own workers reach it on a loopback literal, which no
        // DNS name can be rebound to.
        for name in ["127.0.0.1", "[::1]"] {
            hosts.names.push((name.into(), Some(listen.port())));
        }
        if configured.is_empty() {
            let port = listen.port();
            hosts.names.push((bracketed(listen.ip()), Some(port)));
            if listen.ip().is_loopback() {
                for name in ["localhost", "127.0.0.1", "[::1]"] {
                    hosts.names.push((name.into(), Some(port)));
                }
            }
            if listen.ip().is_unspecified() {
                hosts.any_ip_on = Some(port);
                hosts.names.push(("localhost".into(), Some(port)));
            }
        }
        hosts
    }

    /// Whether a `Host` header value names this server.
    pub fn allows(&self, host: &str) -> bool {
        if self.any {
            return true;
        }
        let Some((name, port)) = split_host(host) else {
            return false;
        };
        let port = port.unwrap_or(80);
        if self.any_ip_on == Some(port) && is_ip_literal(&name) {
            return true;
        }
        self.names.iter().any(|(allowed, allowed_port)| {
            *allowed == name && allowed_port.is_none_or(|p| p == port)
        })
    }
}

/// Middleware: a request whose `Host` (or HTTP/2 authority) this server does
/// not answer to gets 421; `GET /healthz` is exempt, for probes that address
/// the server by whatever name their platform gives it.
pub async fn require_known_host(
    State(hosts): State<Arc<AllowedHosts>>,
    request: Request,
    next: Next,
) -> Response {
    if request.uri().path() == "/healthz" {
        return next.run(request).await;
    }
    let named = match host_of(request.headers()) {
        Ok(Some(host)) => host.to_string(),
        Ok(None) => match request.uri().authority() {
            Some(authority) => authority.as_str().to_string(),
            None => {
                return ApiError::BadRequest("the request names no Host".into()).into_response()
            }
        },
        Err(e) => return e.into_response(),
    };
    if hosts.allows(&named) {
        return next.run(request).await;
    }
    let shown: String = named.chars().take(80).collect();
    ApiError::MisdirectedHost(format!(
        "this server does not answer to host `{}`; add it to `allowed_hosts` in config.toml to allow it",
        shown.escape_debug()
    ))
    .into_response()
}

/// The one `Host` header, if any; two are a malformed request.
fn host_of(headers: &HeaderMap) -> Result<Option<&str>, ApiError> {
    let mut all = headers.get_all(header::HOST).iter();
    let first = all.next();
    if all.next().is_some() {
        return Err(ApiError::BadRequest(
            "the request has more than one Host header".into(),
        ));
    }
    first
        .map(|h| {
            h.to_str()
                .map_err(|_| ApiError::BadRequest("the Host header is not ASCII text".into()))
        })
        .transpose()
}

/// How long, and up to how many bytes, the body of a refused request is
/// read and thrown away after its 413: nginx's "lingering close". Closing a
/// socket with unread data resets the connection, and a client still
/// sending would see a broken pipe instead of the answer.
const LINGER: std::time::Duration = std::time::Duration::from_secs(5);
const LINGER_BYTES: usize = 256 << 20;

/// Middleware: a `Content-Length` over the body limit gets 413 before a byte
/// of the body is used; what the client sends meanwhile is discarded (for
/// `LINGER` at most) and the connection then closed, never kept alive.
pub async fn refuse_announced_oversize(
    State(limit): State<usize>,
    request: Request,
    next: Next,
) -> Response {
    let announced = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u128>().ok());
    if announced.is_some_and(|n| n > limit as u128) {
        tokio::spawn(discard(request.into_body()));
        let mut response = ApiError::TooLarge(limit).into_response();
        response
            .headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
        return response;
    }
    next.run(request).await
}

/// Reads `body` to its end, `LINGER_BYTES` or `LINGER`, whichever is first.
async fn discard(body: axum::body::Body) {
    use futures_util::StreamExt;
    let mut chunks = body.into_data_stream();
    let mut read = 0;
    // Whether time ran out or the body ended, reading stops: nothing to do.
    let _ = tokio::time::timeout(LINGER, async {
        while let Some(Ok(chunk)) = chunks.next().await {
            read += chunk.len();
            if read > LINGER_BYTES {
                break;
            }
        }
    })
    .await;
}

/// Host and port of `host[:port]` (`[v6]:port` for IPv6), the host lowercased.
fn split_host(text: &str) -> Option<(String, Option<u16>)> {
    let text = text.trim().to_ascii_lowercase();
    let (host, port) = if let Some(rest) = text.strip_prefix('[') {
        let (inside, after) = rest.split_once(']')?;
        let port = match after {
            "" => None,
            _ => Some(after.strip_prefix(':')?.parse().ok()?),
        };
        (format!("[{inside}]"), port)
    } else {
        match text.rsplit_once(':') {
            Some((host, port)) => (host.to_string(), Some(port.parse().ok()?)),
            None => (text.clone(), None),
        }
    };
    let plain = |c: char| c.is_ascii_alphanumeric() || "-._[]:".contains(c);
    (!host.is_empty() && host.chars().all(plain)).then_some((host, port))
}

fn bracketed(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => format!("[{v6}]"),
    }
}

fn is_ip_literal(host: &str) -> bool {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    bare.parse::<IpAddr>().is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A client still sending an announced-oversize body reads the 413,
    /// rather than a broken pipe, however fast the server answers: the
    /// server reads (and discards) what comes while it answers.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_oversize_body_being_sent_gets_its_413() {
        let limit = 1024;
        let router = axum::Router::new()
            .route("/", axum::routing::post(|| async { "read" }))
            .layer(axum::middleware::from_fn_with_state(
                limit,
                refuse_announced_oversize,
            ));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/", listener.local_addr().unwrap());
        let options = super::super::serve::ServeOptions {
            header_read_timeout: std::time::Duration::from_secs(10),
            max_connections: 64,
        };
        let server = tokio::spawn(super::super::serve::serve(
            listener,
            router,
            options,
            std::future::pending(),
        ));
        let client = reqwest::Client::new();
        for size in [4 << 20, 16 << 20, 64 << 20] {
            for _ in 0..5 {
                let body = vec![b'y'; size];
                let r = client.post(&url).body(body).send().await;
                let r = r.unwrap_or_else(|e| panic!("{size} bytes: {e:?}"));
                assert_eq!(r.status(), 413, "{size} bytes");
            }
        }
        server.abort();
    }

    fn hosts(configured: &[&str], listen: &str) -> AllowedHosts {
        let configured: Vec<String> = configured.iter().map(|s| s.to_string()).collect();
        AllowedHosts::new(&configured, listen.parse().unwrap())
    }

    #[test]
    fn a_loopback_server_answers_to_loopback_names_on_its_port() {
        let h = hosts(&[], "127.0.0.1:8080");
        for ok in [
            "127.0.0.1:8080",
            "localhost:8080",
            "LOCALHOST:8080",
            "[::1]:8080",
        ] {
            assert!(h.allows(ok), "{ok}");
        }
        for refused in [
            "attacker.example:8080",
            "localhost:8081",
            "localhost",
            "127.0.0.1",
            "127.0.0.2:8080",
            "evil.localhost.example:8080",
            "",
            "localhost:8080:8080",
            "local host:8080",
        ] {
            assert!(!h.allows(refused), "{refused}");
        }
        assert!(hosts(&[], "127.0.0.1:80").allows("localhost"));
    }

    #[test]
    fn an_unspecified_address_answers_to_any_ip_but_only_configured_names() {
        let h = hosts(&[], "0.0.0.0:8080");
        assert!(h.allows("10.1.2.3:8080"));
        assert!(h.allows("[fe80::1]:8080"));
        assert!(h.allows("localhost:8080"));
        assert!(!h.allows("10.1.2.3:9090"));
        assert!(!h.allows("myhost.example:8080"));
        let named = hosts(&["myhost.example", "other.example:9000"], "0.0.0.0:8080");
        assert!(named.allows("myhost.example:8080"));
        assert!(named.allows("MyHost.Example"));
        assert!(named.allows("other.example:9000"));
        assert!(!named.allows("other.example:8080"));
        assert!(
            !named.allows("10.1.2.3:8080"),
            "configured hosts replace the defaults"
        );
        // The server's own workers call it on loopback, whatever is configured.
        assert!(named.allows("127.0.0.1:8080"));
        assert!(named.allows("[::1]:8080"));
        assert!(!named.allows("127.0.0.1:9000"));
        assert!(hosts(&["*"], "127.0.0.1:1").allows("anything.example:5"));
    }
}
