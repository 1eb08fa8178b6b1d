//! The keys of application operations: HTTP (current and pre-1.21 names), databases,
//! peers, and the SDK that made the telemetry.

/// The HTTP method.
pub const HTTP_METHOD: &[&str] = &["http.request.method", "http.method"];
/// The route template of a server span.
pub const HTTP_ROUTE: &[&str] = &["http.route"];
/// The response status code.
pub const HTTP_STATUS: &[&str] = &["http.response.status_code", "http.status_code"];
/// The path of a client call.
pub const URL_PATH: &[&str] = &["url.path", "http.target"];
/// The full URL of a client call.
pub const URL_FULL: &[&str] = &["url.full", "http.url"];
/// The host a client called.
pub const SERVER_HOST: &[&str] = &["server.address", "net.peer.name", "http.host"];
/// The logical name of the called service.
pub const PEER_SERVICE: &[&str] = &["peer.service"];
/// The database system.
pub const DB_SYSTEM: &[&str] = &["db.system.name", "db.system"];
/// The database operation.
pub const DB_OPERATION: &[&str] = &["db.operation.name", "db.operation"];
/// The query text, whose first word is the operation when none is given.
pub const DB_QUERY: &[&str] = &["db.query.text", "db.statement"];
/// The table or collection.
pub const DB_TARGET: &[&str] = &["db.collection.name", "db.sql.table"];
/// The error class.
pub const ERROR_TYPE: &str = "error.type";
/// The language of the SDK that made the telemetry.
pub const SDK_LANGUAGE: &[&str] = &["telemetry.sdk.language"];
/// The browser SDK's language.
pub const WEBJS: &str = "webjs";
