//! The web dashboard: one hand-written page, its scripts and its style sheet,
//! embedded in the binary so that the server needs no files beside it and
//! the page works offline.
use super::{ApiError, ApiPath};
use axum::http::header;
use axum::response::IntoResponse;

const JS: &str = "text/javascript; charset=utf-8";
const INDEX: &str = include_str!("../../assets/dashboard/index.html");

/// The files the page loads: name, content type, text.
const ASSETS: &[(&str, &str, &str)] = &[
    ("app.js", JS, include_str!("../../assets/dashboard/app.js")),
    (
        "charts.js",
        JS,
        include_str!("../../assets/dashboard/charts.js"),
    ),
    (
        "compare.js",
        JS,
        include_str!("../../assets/dashboard/compare.js"),
    ),
    (
        "controls.js",
        JS,
        include_str!("../../assets/dashboard/controls.js"),
    ),
    ("dom.js", JS, include_str!("../../assets/dashboard/dom.js")),
    (
        "panels.js",
        JS,
        include_str!("../../assets/dashboard/panels.js"),
    ),
    (
        "parallel.js",
        JS,
        include_str!("../../assets/dashboard/parallel.js"),
    ),
    (
        "sweep.js",
        JS,
        include_str!("../../assets/dashboard/sweep.js"),
    ),
    (
        "table.js",
        JS,
        include_str!("../../assets/dashboard/table.js"),
    ),
    (
        "style.css",
        "text/css; charset=utf-8",
        include_str!("../../assets/dashboard/style.css"),
    ),
];

// The assets are not fingerprinted: a browser revalidates them, so a new
// binary's page is never mixed with an old script.
const REVALIDATE: (header::HeaderName, &str) = (header::CACHE_CONTROL, "no-cache");

/// `GET /`: the dashboard page.
pub async fn index() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            REVALIDATE,
        ],
        INDEX,
    )
}

/// `GET /assets/{file}`: a script or style sheet of the page.
pub async fn asset(ApiPath(file): ApiPath<String>) -> Result<impl IntoResponse, ApiError> {
    let (_, content_type, text) = ASSETS
        .iter()
        .find(|(name, _, _)| *name == file)
        .ok_or_else(|| ApiError::NotFound(format!("no asset `{file}`")))?;
    Ok(([(header::CONTENT_TYPE, *content_type), REVALIDATE], *text))
}
