//! `twinctl serve`: the JSON API under `/api/v1`, its live event stream (SSE), its
//! OpenAPI document (generated from these handlers by utoipa), and `/metrics`.
//!
//! Every route but `POST /api/v1/login` and the OpenAPI document needs
//! `Authorization: Bearer <token>`: a session from the login, or an API token. A missing
//! or wrong credential is 401; an address that has spent its authentication attempts
//! (every login, every failed credential) gets 429 until its bucket refills.

use std::convert::Infallible;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::sse::{KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use tokio_stream::wrappers::BroadcastStream;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi, ToSchema};

use crate::auth::{Authenticator, Principal, RateLimiter};
use crate::config::Config;
use crate::console::{CallEntry, Console, Done, NodeSummary, UserEntry};
use crate::event::Event;
use crate::metrics;
use crate::node::PinResult;
use crate::OpError;

pub struct AppState {
    pub console: Arc<Console>,
    pub auth: Authenticator,
    pub limiter: RateLimiter,
    /// The web pages' sessions, audit trail and call timelines.
    pub web: crate::web::WebState,
}

impl AppState {
    pub fn new(config: &Config, console: Arc<Console>) -> Arc<AppState> {
        let state = Arc::new(AppState {
            auth: Authenticator::new(
                config.admins.clone(),
                config.tokens.clone(),
                Duration::from_secs(config.serve.session_minutes * 60),
            ),
            limiter: RateLimiter::new(config.serve.auth_attempts_per_minute),
            web: crate::web::WebState::new(
                Duration::from_secs(config.serve.session_minutes * 60),
                config.serve.tls.is_some(),
                console.subscribe(),
                config.store_dsn.clone(),
            ),
            console,
        });
        crate::web::start_scraping(&state);
        state
    }
}

/// An error as the API answers it: `{"error": "...", "node": "..."}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct ApiError {
    #[serde(skip)]
    status: StatusCode,
    pub error: String,
    /// The node concerned, when one is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    /// For a PATCH refused part-way: the fields already changed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub applied: Option<Vec<String>>,
    #[serde(skip)]
    retry_after: Option<u64>,
}

impl ApiError {
    fn new(status: StatusCode, error: impl Into<String>) -> ApiError {
        ApiError { status, error: error.into(), node: None, applied: None, retry_after: None }
    }

    fn unauthorized() -> ApiError {
        ApiError::new(StatusCode::UNAUTHORIZED, "authentication required: Authorization: Bearer <token>")
    }
}

/// The HTTP status an operation's error answers with.
pub fn status_of(e: &OpError) -> StatusCode {
    ApiError::from(e.clone()).status
}

impl From<OpError> for ApiError {
    fn from(e: OpError) -> ApiError {
        let (status, node) = match &e {
            OpError::Usage(_) => (StatusCode::BAD_REQUEST, None),
            OpError::NodeDown { node, .. } => (StatusCode::SERVICE_UNAVAILABLE, Some(node.clone())),
            OpError::Refused { node, message } if message.contains("unknown twinning user") => {
                (StatusCode::NOT_FOUND, Some(node.clone()))
            }
            OpError::Refused { node, .. } => (StatusCode::UNPROCESSABLE_ENTITY, Some(node.clone())),
            OpError::UnknownUser(_) => (StatusCode::NOT_FOUND, None),
            OpError::Auth { node, .. } => (StatusCode::BAD_GATEWAY, Some(node.clone())),
        };
        let error = match &e {
            OpError::Refused { message, .. } => message.clone(),
            other => other.to_string(),
        };
        ApiError { status, error, node, applied: None, retry_after: None }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut r = (self.status, Json(&self)).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            r.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        if let Some(s) = self.retry_after {
            if let Ok(v) = HeaderValue::from_str(&s.to_string()) {
                r.headers_mut().insert(header::RETRY_AFTER, v);
            }
        }
        r
    }
}

fn peer(parts: &Parts) -> IpAddr {
    parts.extensions.get::<ConnectInfo<SocketAddr>>().map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |c| c.0.ip())
}

fn limited(state: &AppState, addr: IpAddr) -> ApiError {
    let mut e =
        ApiError::new(StatusCode::TOO_MANY_REQUESTS, "too many authentication attempts from this address");
    e.retry_after = Some(state.limiter.retry_after(addr, Instant::now()).max(1));
    e
}

/// The authenticated caller of a request.
pub struct Caller(pub Principal);

impl FromRequestParts<Arc<AppState>> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &Arc<AppState>) -> Result<Caller, ApiError> {
        let addr = peer(parts);
        let bearer = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
            .map(str::trim);
        if !state.limiter.allowed(addr, Instant::now()) {
            return Err(limited(state, addr));
        }
        let principal = match bearer {
            Some(token) if !token.is_empty() => {
                let (state2, token) = (state.clone(), token.to_owned());
                // An argon2-hashed token is checked off the async threads.
                tokio::task::spawn_blocking(move || state2.auth.check(&token)).await.ok().flatten()
            }
            _ => None,
        };
        match principal {
            Some(p) => Ok(Caller(p)),
            None => {
                state.limiter.spend(addr, Instant::now());
                Err(ApiError::unauthorized())
            }
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct LoginRequest {
    pub login: String,
    pub password: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LoginResponse {
    /// Send it as `Authorization: Bearer <token>`.
    pub token: String,
    pub expires_in_seconds: u64,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct HandoverRequest {
    /// `desk`, `mobile`, or `mobile2` ... `mobile10`.
    pub to: String,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct PinRequest {
    pub pin: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PinResponse {
    pub result: PinResult,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PatchResponse {
    pub node: String,
    /// The fields changed, in order.
    pub applied: Vec<String>,
    /// The module's answer to each.
    pub messages: Vec<String>,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct NodeQuery {
    /// The node to ask (default: the first node that is up and has the user).
    pub node: Option<String>,
}

/// Log in as an admin; the answer's token is a session.
#[utoipa::path(post, path = "/api/v1/login", request_body = LoginRequest,
    responses((status = 200, body = LoginResponse), (status = 401, body = ApiError), (status = 429, body = ApiError)))]
async fn login(
    State(state): State<Arc<AppState>>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    Json(req): Json<LoginRequest>,
) -> Result<Json<LoginResponse>, ApiError> {
    if !state.limiter.spend(addr.ip(), Instant::now()) {
        return Err(limited(&state, addr.ip()));
    }
    let state2 = state.clone();
    let token = tokio::task::spawn_blocking(move || state2.auth.login(&req.login, &req.password))
        .await
        .ok()
        .flatten()
        .ok_or_else(|| ApiError::new(StatusCode::UNAUTHORIZED, "wrong login or password"))?;
    Ok(Json(LoginResponse { token, expires_in_seconds: state_session_seconds(&state) }))
}

fn state_session_seconds(state: &AppState) -> u64 {
    state.auth.session_seconds()
}

/// End the session whose token authenticates this request.
#[utoipa::path(post, path = "/api/v1/logout", responses((status = 204), (status = 401, body = ApiError)),
    security(("bearer" = [])))]
async fn logout(
    State(state): State<Arc<AppState>>,
    _caller: Caller,
    headers: axum::http::HeaderMap,
) -> StatusCode {
    if let Some(token) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
    {
        state.auth.logout(token.trim());
    }
    StatusCode::NO_CONTENT
}

/// Every user of every node that is up, from the live model.
#[utoipa::path(get, path = "/api/v1/users", responses((status = 200, body = [UserEntry]), (status = 401, body = ApiError)),
    security(("bearer" = [])))]
async fn users(State(state): State<Arc<AppState>>, _caller: Caller) -> Json<Vec<UserEntry>> {
    Json(state.console.users())
}

/// One user's settings and lamps, read now from the node.
#[utoipa::path(get, path = "/api/v1/users/{user}", params(("user" = String, Path, description = "The twinning user"), NodeQuery),
    responses((status = 200, body = UserEntry), (status = 401, body = ApiError), (status = 404, body = ApiError), (status = 503, body = ApiError)),
    security(("bearer" = [])))]
async fn user(
    State(state): State<Arc<AppState>>,
    _caller: Caller,
    Path(user): Path<String>,
    Query(q): Query<NodeQuery>,
) -> Result<Json<UserEntry>, ApiError> {
    Ok(Json(state.console.status(&user, q.node.as_deref()).await?))
}

/// Change fields (`{"field": "value", ...}`), in field-name order, each validated by the module and
/// audited with the caller as `console:<login>`. The first refusal stops: it is 422 with
/// the module's reason and the fields already changed; a single field is all or nothing.
#[utoipa::path(patch, path = "/api/v1/users/{user}", request_body = std::collections::BTreeMap<String, String>,
    params(("user" = String, Path, description = "The twinning user"), NodeQuery),
    responses((status = 200, body = PatchResponse), (status = 401, body = ApiError), (status = 404, body = ApiError),
        (status = 422, body = ApiError), (status = 503, body = ApiError)),
    security(("bearer" = [])))]
async fn patch_user(
    State(state): State<Arc<AppState>>,
    Caller(caller): Caller,
    Path(user): Path<String>,
    Query(q): Query<NodeQuery>,
    Json(fields): Json<serde_json::Map<String, serde_json::Value>>,
) -> Result<Json<PatchResponse>, ApiError> {
    if fields.is_empty() {
        return Err(ApiError::new(StatusCode::BAD_REQUEST, "no fields to change"));
    }
    let source = caller.source();
    let mut applied = Vec::new();
    let mut messages = Vec::new();
    let mut node = String::new();
    for (field, value) in fields {
        let value = match value {
            serde_json::Value::String(s) => s,
            serde_json::Value::Bool(b) => if b { "yes" } else { "no" }.to_owned(),
            serde_json::Value::Number(n) => n.to_string(),
            serde_json::Value::Null => String::new(),
            _ => {
                return Err(ApiError::new(
                    StatusCode::BAD_REQUEST,
                    format!("{field}: a value is a string, number or boolean"),
                ))
            }
        };
        match state.console.set(&user, &field, &value, &source, q.node.as_deref()).await {
            Ok(done) => {
                node = done.node;
                applied.push(field);
                messages.push(done.message);
            }
            Err(e) => {
                let mut e = ApiError::from(e);
                e.applied = Some(applied);
                return Err(e);
            }
        }
    }
    Ok(Json(PatchResponse { node, applied, messages }))
}

/// Move the user's answered call to the desk or a remote destination.
#[utoipa::path(post, path = "/api/v1/users/{user}/handover", request_body = HandoverRequest,
    params(("user" = String, Path, description = "The twinning user"), NodeQuery),
    responses((status = 200, body = Done), (status = 400, body = ApiError), (status = 401, body = ApiError), (status = 422, body = ApiError)),
    security(("bearer" = [])))]
async fn handover(
    State(state): State<Arc<AppState>>,
    Caller(caller): Caller,
    Path(user): Path<String>,
    Query(q): Query<NodeQuery>,
    Json(req): Json<HandoverRequest>,
) -> Result<Json<Done>, ApiError> {
    Ok(Json(state.console.handover(&user, &req.to, &caller.source(), q.node.as_deref()).await?))
}

/// Check a user's PIN through the module's guard and lockout (as a phone's entry is).
#[utoipa::path(post, path = "/api/v1/users/{user}/check-pin", request_body = PinRequest,
    params(("user" = String, Path, description = "The twinning user"), NodeQuery),
    responses((status = 200, body = PinResponse), (status = 401, body = ApiError), (status = 422, body = ApiError)),
    security(("bearer" = [])))]
async fn check_pin(
    State(state): State<Arc<AppState>>,
    Caller(caller): Caller,
    Path(user): Path<String>,
    Query(q): Query<NodeQuery>,
    Json(req): Json<PinRequest>,
) -> Result<Json<PinResponse>, ApiError> {
    Ok(Json(PinResponse {
        result: state.console.check_pin(&user, &req.pin, &caller.source(), q.node.as_deref()).await?,
    }))
}

/// Every twinned call in progress on every node, with each leg's state.
#[utoipa::path(get, path = "/api/v1/calls", responses((status = 200, body = [CallEntry]), (status = 401, body = ApiError)),
    security(("bearer" = [])))]
async fn calls(State(state): State<Arc<AppState>>, _caller: Caller) -> Json<Vec<CallEntry>> {
    Json(state.console.calls())
}

/// Every node: up or down (and why), its users and calls, its store.
#[utoipa::path(get, path = "/api/v1/nodes", responses((status = 200, body = [NodeSummary]), (status = 401, body = ApiError)),
    security(("bearer" = [])))]
async fn nodes(State(state): State<Arc<AppState>>, _caller: Caller) -> Json<Vec<NodeSummary>> {
    Json(state.console.nodes())
}

/// The live events of every node as server-sent events: each an `Event` in JSON, named
/// by its `type`.
#[utoipa::path(get, path = "/api/v1/events",
    responses((status = 200, description = "text/event-stream of Event", body = Event, content_type = "text/event-stream"),
        (status = 401, body = ApiError)),
    security(("bearer" = [])))]
async fn events(State(state): State<Arc<AppState>>, _caller: Caller) -> impl IntoResponse {
    let stream = BroadcastStream::new(state.console.subscribe()).map(|item| {
        Ok::<_, Infallible>(match item {
            Ok(e) => axum::response::sse::Event::default()
                .event(e.kind.type_name())
                .json_data(&e)
                .unwrap_or_else(|_| axum::response::sse::Event::default().comment("unserialisable")),
            Err(_) => axum::response::sse::Event::default().event("lagged").data("events were dropped"),
        })
    });
    Sse::new(stream).keep_alive(KeepAlive::default())
}

/// Every node's module metrics in Prometheus text format, labelled `node` and `pbx`.
#[utoipa::path(get, path = "/metrics", responses((status = 200, description = "Prometheus text exposition", content_type = "text/plain"),
    (status = 401, body = ApiError)), security(("bearer" = [])))]
async fn metrics_text(State(state): State<Arc<AppState>>, _caller: Caller) -> impl IntoResponse {
    let read: Vec<metrics::NodeMetrics> = state.console.metrics().await.into_iter().map(|(m, _)| m).collect();
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], metrics::render(&read))
}

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, api: &mut utoipa::openapi::OpenApi) {
        let components = api.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

#[derive(OpenApi)]
#[openapi(
    info(title = "twinctl", description = "One control plane over every twinning node."),
    paths(login, logout, users, user, patch_user, handover, check_pin, calls, nodes, events, metrics_text),
    components(schemas(ApiError, LoginRequest, LoginResponse, HandoverRequest, PinRequest, PinResponse, PatchResponse,
        UserEntry, CallEntry, NodeSummary, Done, Event)),
    modifiers(&BearerAuth)
)]
pub struct ApiDoc;

async fn openapi() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}

pub fn router(state: Arc<AppState>) -> Router {
    let pages = crate::web::router(state.clone());
    Router::new()
        .route("/api/v1/login", post(login))
        .route("/api/v1/logout", post(logout))
        .route("/api/v1/users", get(users))
        .route("/api/v1/users/{user}", get(user).patch(patch_user))
        .route("/api/v1/users/{user}/handover", post(handover))
        .route("/api/v1/users/{user}/check-pin", post(check_pin))
        .route("/api/v1/calls", get(calls))
        .route("/api/v1/nodes", get(nodes))
        .route("/api/v1/events", get(events))
        .route("/api/v1/openapi.json", get(openapi))
        .route("/metrics", get(metrics_text))
        .with_state(state)
        .merge(pages)
}

/// Serves until Ctrl-C or SIGTERM. Says where it listens on stderr.
pub async fn serve(config: &Config, console: Arc<Console>) -> Result<(), String> {
    let state = AppState::new(config, console);
    let app = router(state).into_make_service_with_connect_info::<SocketAddr>();
    let listener = std::net::TcpListener::bind(config.serve.bind)
        .map_err(|e| format!("cannot listen on {}: {e}", config.serve.bind))?;
    listener.set_nonblocking(true).map_err(|e| e.to_string())?;
    let local = listener.local_addr().map_err(|e| e.to_string())?;
    if config.admins.is_empty() && config.tokens.is_empty() {
        log::warn!("no [[admin]] and no [[token]] configured: every API request will be refused (401)");
    }
    match &config.serve.tls {
        Some((cert, key)) => {
            let tls = axum_server::tls_rustls::RustlsConfig::from_pem_file(cert, key)
                .await
                .map_err(|e| format!("TLS certificate {} / key {}: {e}", cert.display(), key.display()))?;
            eprintln!("twinctl: serving on https://{local}");
            let handle = axum_server::Handle::new();
            let h = handle.clone();
            tokio::spawn(async move {
                shutdown_signal().await;
                h.graceful_shutdown(Some(Duration::from_secs(5)));
            });
            axum_server::from_tcp_rustls(listener, tls)
                .map_err(|e| e.to_string())?
                .handle(handle)
                .serve(app)
                .await
                .map_err(|e| e.to_string())
        }
        None => {
            eprintln!("twinctl: serving on http://{local}");
            let listener = tokio::net::TcpListener::from_std(listener).map_err(|e| e.to_string())?;
            axum::serve(listener, app)
                .with_graceful_shutdown(shutdown_signal())
                .await
                .map_err(|e| e.to_string())
        }
    }
}

pub async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(s) => s,
            Err(_) => {
                let _ = ctrl_c.await;
                return;
            }
        };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::{hash_password, hex, new_token, sha256};
    use crate::fake::FakeAmi;
    use axum::body::Body;
    use axum::http::Request;
    use http_body_util::BodyExt;
    use tower::ServiceExt;

    struct Api {
        router: Router,
        token: String,
        fake: FakeAmi,
    }

    async fn api(attempts: u32) -> Api {
        let fake = FakeAmi::start().await;
        let token = new_token();
        let text = format!(
            "[[node]]\nname='pbx1'\nkind='asterisk'\naddress='{}'\nusername='u'\nsecret='right'\n\
             [serve]\nauth_attempts_per_minute = {attempts}\n\
             [[admin]]\nlogin='alice'\npassword_hash='{}'\n\
             [[token]]\nname='prometheus'\nsha256='{}'\n",
            fake.address,
            hash_password("correct horse"),
            hex(&sha256(token.as_bytes()))
        );
        let config = Config::parse(&text, std::path::Path::new(".")).unwrap();
        let console = Arc::new(Console::start(&config));
        console.ready(Duration::from_secs(5)).await;
        Api { router: router(AppState::new(&config, console)), token, fake }
    }

    async fn call(
        api: &Api,
        method: &str,
        path: &str,
        from: &str,
        bearer: Option<&str>,
        body: Option<serde_json::Value>,
    ) -> (StatusCode, serde_json::Value, axum::http::HeaderMap) {
        let mut req = Request::builder().method(method).uri(path);
        if let Some(b) = bearer {
            req = req.header("authorization", format!("Bearer {b}"));
        }
        let body = match body {
            Some(v) => {
                req = req.header("content-type", "application/json");
                Body::from(v.to_string())
            }
            None => Body::empty(),
        };
        let mut req = req.body(body).unwrap();
        req.extensions_mut().insert(ConnectInfo(SocketAddr::new(from.parse().unwrap(), 40000)));
        let r = api.router.clone().oneshot(req).await.unwrap();
        let status = r.status();
        let headers = r.headers().clone();
        let bytes = r.into_body().collect().await.unwrap().to_bytes();
        let json = serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| serde_json::Value::String(String::from_utf8_lossy(&bytes).into()));
        (status, json, headers)
    }

    const HERE: &str = "192.0.2.10";

    #[tokio::test]
    async fn no_or_wrong_credentials_are_401() {
        let api = api(100).await;
        for path in [
            "/api/v1/users",
            "/api/v1/users/1001",
            "/api/v1/calls",
            "/api/v1/nodes",
            "/api/v1/events",
            "/metrics",
        ] {
            let (s, body, h) = call(&api, "GET", path, HERE, None, None).await;
            assert_eq!(s, StatusCode::UNAUTHORIZED, "{path}");
            assert_eq!(h.get("www-authenticate").unwrap(), "Bearer");
            assert!(body["error"].as_str().unwrap().contains("authentication required"));
            let (s, _, _) = call(&api, "GET", path, HERE, Some(&new_token()), None).await;
            assert_eq!(s, StatusCode::UNAUTHORIZED, "{path} with a wrong token");
        }
        let (s, _, _) = call(
            &api,
            "PATCH",
            "/api/v1/users/1001",
            HERE,
            Some("nonsense"),
            Some(serde_json::json!({"dnd": "yes"})),
        )
        .await;
        assert_eq!(s, StatusCode::UNAUTHORIZED);
        assert!(
            api.fake.state.lock().unwrap().actions.iter().all(|a| !a.is("Action", "TwinningSet")),
            "nothing reached the PBX"
        );
        // The OpenAPI document is public, and generated from the handlers.
        let (s, doc, _) = call(&api, "GET", "/api/v1/openapi.json", HERE, None, None).await;
        assert_eq!(s, StatusCode::OK);
        for p in [
            "/api/v1/users",
            "/api/v1/users/{user}",
            "/api/v1/users/{user}/handover",
            "/api/v1/calls",
            "/api/v1/nodes",
            "/api/v1/events",
            "/api/v1/login",
            "/metrics",
        ] {
            assert!(doc["paths"][p].is_object(), "{p} is not in the OpenAPI document");
        }
        assert!(doc["paths"]["/api/v1/users/{user}"]["patch"].is_object());
        assert!(doc["components"]["securitySchemes"]["bearer"].is_object());
    }

    #[tokio::test]
    async fn tokens_and_sessions_authenticate() {
        let api = api(100).await;
        let (s, nodes, _) = call(&api, "GET", "/api/v1/nodes", HERE, Some(&api.token), None).await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(nodes[0]["name"], "pbx1");
        assert_eq!(nodes[0]["state"], "up");
        let (s, _, _) = call(
            &api,
            "POST",
            "/api/v1/login",
            HERE,
            None,
            Some(serde_json::json!({"login": "alice", "password": "wrong"})),
        )
        .await;
        assert_eq!(s, StatusCode::UNAUTHORIZED);
        let (s, login, _) = call(
            &api,
            "POST",
            "/api/v1/login",
            HERE,
            None,
            Some(serde_json::json!({"login": "alice", "password": "correct horse"})),
        )
        .await;
        assert_eq!(s, StatusCode::OK);
        let session = login["token"].as_str().unwrap().to_owned();
        let (s, users, _) = call(&api, "GET", "/api/v1/users", HERE, Some(&session), None).await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(users[0]["user"], "1001");
        assert_eq!(users[0]["settings"]["mobile"], "07700900123");
        let (s, _, _) = call(&api, "POST", "/api/v1/logout", HERE, Some(&session), None).await;
        assert_eq!(s, StatusCode::NO_CONTENT);
        let (s, _, _) = call(&api, "GET", "/api/v1/users", HERE, Some(&session), None).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED, "a session ends at logout");
    }

    #[tokio::test]
    async fn authentication_attempts_are_rate_limited_per_address() {
        let api = api(3).await;
        for _ in 0..3 {
            let (s, _, _) = call(&api, "GET", "/api/v1/users", HERE, Some("guess"), None).await;
            assert_eq!(s, StatusCode::UNAUTHORIZED);
        }
        let (s, _, h) = call(&api, "GET", "/api/v1/users", HERE, Some("guess"), None).await;
        assert_eq!(s, StatusCode::TOO_MANY_REQUESTS);
        assert!(h.get("retry-after").is_some());
        let (s, _, _) = call(&api, "GET", "/api/v1/users", HERE, Some(&api.token), None).await;
        assert_eq!(s, StatusCode::TOO_MANY_REQUESTS, "even the right token waits: guessing gets no answer");
        let (s, _, _) = call(
            &api,
            "POST",
            "/api/v1/login",
            HERE,
            None,
            Some(serde_json::json!({"login": "alice", "password": "correct horse"})),
        )
        .await;
        assert_eq!(s, StatusCode::TOO_MANY_REQUESTS);
        let (s, _, _) = call(&api, "GET", "/api/v1/users", "192.0.2.11", Some(&api.token), None).await;
        assert_eq!(s, StatusCode::OK, "another address is not held up");
    }

    #[tokio::test]
    async fn changes_go_through_the_module_with_the_console_source() {
        let api = api(100).await;
        let (s, body, _) = call(
            &api,
            "PATCH",
            "/api/v1/users/1001",
            HERE,
            Some(&api.token),
            Some(serde_json::json!({"mobile": "0912345678"})),
        )
        .await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert_eq!(body["error"], "mobile: '09' is a blocked prefix");
        assert_eq!(body["node"], "pbx1");
        assert_eq!(body["applied"], serde_json::json!([]));
        let (s, body, _) = call(
            &api,
            "PATCH",
            "/api/v1/users/1001",
            HERE,
            Some(&api.token),
            Some(serde_json::json!({"dnd": true})),
        )
        .await;
        assert_eq!(s, StatusCode::OK, "{body}");
        assert_eq!(body["applied"], serde_json::json!(["dnd"]));
        let set: Vec<Fields> = api
            .fake
            .state
            .lock()
            .unwrap()
            .actions
            .iter()
            .filter(|a| a.is("Action", "TwinningSet"))
            .cloned()
            .collect();
        assert_eq!(set.len(), 2);
        assert_eq!(set[1].get("Value"), Some("yes"));
        assert_eq!(set[1].get("Source"), Some("console:token-prometheus"));
        let (s, _, _) = call(
            &api,
            "PATCH",
            "/api/v1/users/9999",
            HERE,
            Some(&api.token),
            Some(serde_json::json!({"dnd": "yes"})),
        )
        .await;
        assert_eq!(s, StatusCode::NOT_FOUND);
        let (s, body, _) = call(
            &api,
            "POST",
            "/api/v1/users/1001/handover",
            HERE,
            Some(&api.token),
            Some(serde_json::json!({"to": "voicemail"})),
        )
        .await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{body}");
        let (s, body, _) = call(
            &api,
            "POST",
            "/api/v1/users/1001/check-pin",
            HERE,
            Some(&api.token),
            Some(serde_json::json!({"pin": "1234"})),
        )
        .await;
        assert_eq!((s, body["result"].as_str()), (StatusCode::OK, Some("OK")));
        let (s, text, _) = call(&api, "GET", "/metrics", HERE, Some(&api.token), None).await;
        assert_eq!(s, StatusCode::OK);
        let text = text.as_str().unwrap().to_owned();
        assert!(
            text.contains("twinning_calls_total{node=\"pbx1\",pbx=\"asterisk\",status=\"ANSWERED\"} 2"),
            "{text}"
        );
    }

    use crate::fields::Fields;
}
