//! Outbound HTTPS to the hosts the operator listed in `allowed_hosts`. A plugin that calls
//! this needs that grant or it is refused at load. The host caps time and size and refuses
//! private addresses and redirects off the list.

use crate::bindings::gatehouse::plugin::http as raw;
use crate::bindings::gatehouse::plugin::types::Kv;

pub use raw::{HttpError, Method, Response};

/// A request being built.
#[derive(Debug, Clone)]
pub struct Request(raw::Request);

impl Request {
    /// A request with no headers and no body.
    pub fn new(method: Method, url: &str) -> Self {
        Self(raw::Request { method, url: url.to_owned(), headers: Vec::new(), body: None, timeout_ms: None })
    }

    /// A GET request.
    pub fn get(url: &str) -> Self {
        Self::new(Method::Get, url)
    }

    /// A POST request.
    pub fn post(url: &str) -> Self {
        Self::new(Method::Post, url)
    }

    /// Adds a header.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.0.headers.push(Kv { key: name.to_owned(), value: value.to_owned() });
        self
    }

    /// Sets the body.
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.0.body = Some(body.into());
        self
    }

    /// Sets a JSON body and its content type.
    pub fn json(self, value: &serde_json::Value) -> Self {
        self.header("content-type", "application/json").body(value.to_string())
    }

    /// Limits the wall time (the host caps it further).
    pub fn timeout_ms(mut self, ms: u32) -> Self {
        self.0.timeout_ms = Some(ms);
        self
    }

    /// Sends it.
    pub fn send(self) -> Result<Response, HttpError> {
        raw::fetch(&self.0)
    }
}

impl Response {
    /// A header's value (case-insensitive name).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|kv| kv.key.eq_ignore_ascii_case(name)).map(|kv| kv.value.as_str())
    }

    /// The body decoded as JSON.
    pub fn json<T: serde::de::DeserializeOwned>(&self) -> Result<T, String> {
        serde_json::from_slice(&self.body).map_err(|e| e.to_string())
    }
}
