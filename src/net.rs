//! What llmwatch's listeners share, below the receivers and the admin port that serve
//! them and the exporter config that declares the admin port's: TLS with reloaded
//! certificates ([`tls`]) and bearer-token authentication ([`auth`]). Both import only the
//! config primitives of [`crate::component`] and the data model.

pub mod auth;
pub mod tls;
