//! The request as the guest reads it (`txt`, `json`) and the response heads
//! it writes, parsed and checked.

use crate::body::{ResponseBody, full};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use hyper::header::{HeaderName, HeaderValue};
use hyper::{Response, StatusCode, Version};
use serde_json::{Map, Value, json};
use std::net::SocketAddr;

/// The most bytes of a response head written to `/response/txt`.
pub const MAX_HEAD: usize = 64 * 1024;

/// The most fields of a response head.
pub const MAX_FIELDS: usize = 100;

/// Fields of a connection, not of a message: the server frames the body
/// and manages the connection itself, so a guest's are dropped.
const HOP_BY_HOP: [&str; 7] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// A request's method, target, version and fields, as the guest sees them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestHead {
    /// `GET`, `POST`, ...
    pub method: String,
    /// The request target as sent (`/path?query`).
    pub target: String,
    /// `HTTP/1.0`, `HTTP/1.1` or `HTTP/2.0`.
    pub version: &'static str,
    /// The fields, lowercase names in the order received; a chunked
    /// request's `transfer-encoding` is not among them (its body is given
    /// decoded).
    pub headers: Vec<(String, Vec<u8>)>,
    /// The client's address, when known.
    pub remote_addr: Option<SocketAddr>,
    /// The server's address the request came to, when known.
    pub local_addr: Option<SocketAddr>,
}

impl RequestHead {
    /// The head of `parts`, a request received by the server.
    pub fn new(parts: &hyper::http::request::Parts) -> Self {
        let version = match parts.version {
            Version::HTTP_10 => "HTTP/1.0",
            Version::HTTP_2 => "HTTP/2.0",
            _ => "HTTP/1.1",
        };
        let mut headers = Vec::with_capacity(parts.headers.len() + 1);
        if parts.version == Version::HTTP_2
            && !parts.headers.contains_key(hyper::header::HOST)
            && let Some(authority) = parts.uri.authority()
        {
            headers.push(("host".to_owned(), authority.as_str().as_bytes().to_vec()));
        }
        for (name, value) in &parts.headers {
            if name != hyper::header::TRANSFER_ENCODING {
                headers.push((name.as_str().to_owned(), value.as_bytes().to_vec()));
            }
        }
        let target = parts
            .uri
            .path_and_query()
            .map_or_else(|| parts.uri.path().to_owned(), |pq| pq.as_str().to_owned());
        Self {
            method: parts.method.as_str().to_owned(),
            target,
            version,
            headers,
            remote_addr: None,
            local_addr: None,
        }
    }

    /// The path part of the target.
    pub fn path(&self) -> &str {
        self.target
            .split_once('?')
            .map_or(&self.target, |(path, _)| path)
    }

    /// The query part of the target, without `?` (empty without one).
    pub fn query(&self) -> &str {
        self.target.split_once('?').map_or("", |(_, query)| query)
    }

    /// The first value of the field `name` (lowercase).
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_slice())
    }

    /// The head as `/request/txt` begins: request line, fields, blank line.
    pub fn txt(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(64 + self.target.len());
        out.extend_from_slice(self.method.as_bytes());
        out.push(b' ');
        out.extend_from_slice(self.target.as_bytes());
        out.extend_from_slice(b" HTTP/1.1\r\n");
        for (name, value) in &self.headers {
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(b": ");
            out.extend_from_slice(value);
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b"\r\n");
        out
    }

    /// `/request/json` for this head and `body`.
    pub fn json(&self, body: &[u8]) -> Vec<u8> {
        let headers: Vec<Value> = self
            .headers
            .iter()
            .map(|(name, value)| json!([name, String::from_utf8_lossy(value)]))
            .collect();
        let mut object = Map::new();
        object.insert("method".into(), self.method.clone().into());
        object.insert("uri".into(), self.target.clone().into());
        object.insert("path".into(), self.path().into());
        object.insert("query".into(), self.query().into());
        object.insert("version".into(), self.version.into());
        object.insert("headers".into(), headers.into());
        match std::str::from_utf8(body) {
            Ok(text) => object.insert("body".into(), text.into()),
            Err(_) => object.insert("body_base64".into(), BASE64.encode(body).into()),
        };
        serde_json::to_vec(&Value::Object(object)).expect("a JSON value always serializes")
    }
}

/// A response head a guest wrote, checked.
#[derive(Debug)]
pub(crate) struct ParsedHead {
    status: StatusCode,
    headers: Vec<(HeaderName, HeaderValue)>,
    /// The declared `content-length`.
    pub(crate) content_length: Option<u64>,
}

impl ParsedHead {
    /// The status the guest wrote.
    pub(crate) fn status(&self) -> StatusCode {
        self.status
    }

    /// The response with this head and `body`.
    pub(crate) fn into_response(self, body: ResponseBody) -> Response<ResponseBody> {
        let mut response = Response::new(body);
        *response.status_mut() = self.status;
        let headers = response.headers_mut();
        for (name, value) in self.headers {
            headers.append(name, value);
        }
        response
    }
}

/// Parses the response head at the start of `bytes`: `Ok(None)` while it
/// is incomplete; with its length when complete; why it is malformed.
pub(crate) fn parse_response(bytes: &[u8]) -> Result<Option<(ParsedHead, usize)>, String> {
    let mut fields = [httparse::EMPTY_HEADER; MAX_FIELDS];
    let mut response = httparse::Response::new(&mut fields);
    let len = match response.parse(bytes) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(httparse::Error::TooManyHeaders) => {
            return Err(format!("more than {MAX_FIELDS} response fields"));
        }
        Err(e) => return Err(format!("malformed response head: {e}")),
    };
    let code = response.code.unwrap_or_default();
    let status = StatusCode::from_u16(code).map_err(|_| format!("invalid status {code}"))?;
    let mut head = checked_fields(status, response.headers.iter().map(|f| (f.name, f.value)))?;
    head.content_length = content_length(&head.headers)?;
    Ok(Some((head, len)))
}

/// The head of a response with `status` and `fields`, hop-by-hop fields
/// dropped; an invalid field is malformed.
fn checked_fields<'a>(
    status: StatusCode,
    fields: impl Iterator<Item = (&'a str, &'a [u8])>,
) -> Result<ParsedHead, String> {
    let mut headers = Vec::new();
    for (name, value) in fields {
        let name = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| format!("invalid field name {name:?}"))?;
        if HOP_BY_HOP.contains(&name.as_str()) {
            continue;
        }
        let value =
            HeaderValue::from_bytes(value).map_err(|_| format!("invalid value of field {name}"))?;
        headers.push((name, value));
    }
    Ok(ParsedHead {
        status,
        headers,
        content_length: None,
    })
}

/// The `content-length` of `headers`: one valid number, or none.
fn content_length(headers: &[(HeaderName, HeaderValue)]) -> Result<Option<u64>, String> {
    let mut lengths = headers
        .iter()
        .filter(|(name, _)| name == hyper::header::CONTENT_LENGTH)
        .map(|(_, value)| {
            value
                .to_str()
                .ok()
                .and_then(|v| v.trim().parse::<u64>().ok())
                .ok_or_else(|| "invalid content-length".to_owned())
        });
    let first = lengths.next().transpose()?;
    if lengths.next().is_some() {
        return Err("more than one content-length".into());
    }
    Ok(first)
}

/// The response `/response/json` describes (`spec/wasi-cloud.md`).
pub(crate) fn parse_json_response(bytes: &[u8]) -> Result<Response<ResponseBody>, String> {
    let value: Value =
        serde_json::from_slice(bytes).map_err(|e| format!("malformed /response/json: {e}"))?;
    let object = value.as_object().ok_or("/response/json is not an object")?;
    let code = object
        .get("status")
        .and_then(Value::as_u64)
        .ok_or("/response/json has no integer status")?;
    let status = u16::try_from(code)
        .ok()
        .filter(|code| (100..=999).contains(code))
        .and_then(|code| StatusCode::from_u16(code).ok())
        .ok_or_else(|| format!("invalid status {code}"))?;
    let mut fields: Vec<(&str, &str)> = Vec::new();
    match object.get("headers") {
        None | Some(Value::Null) => {}
        Some(Value::Array(pairs)) => {
            for pair in pairs {
                match pair.as_array().map(Vec::as_slice) {
                    Some([Value::String(name), Value::String(value)]) => {
                        fields.push((name, value));
                    }
                    _ => return Err("a header is not a [name, value] pair of strings".into()),
                }
            }
        }
        Some(Value::Object(map)) => {
            for (name, value) in map {
                let value = value.as_str().ok_or("a header value is not a string")?;
                fields.push((name, value));
            }
        }
        Some(_) => return Err("headers is neither a list nor an object".into()),
    }
    if fields.len() > MAX_FIELDS {
        return Err(format!("more than {MAX_FIELDS} response fields"));
    }
    let body = match (object.get("body"), object.get("body_base64")) {
        (Some(_), Some(_)) => return Err("both body and body_base64".into()),
        (Some(Value::String(text)), None) => text.clone().into_bytes(),
        (None, Some(Value::String(encoded))) => BASE64
            .decode(encoded)
            .map_err(|e| format!("body_base64: {e}"))?,
        (None, None) => Vec::new(),
        _ => return Err("the body is not a string".into()),
    };
    let mut head = checked_fields(
        status,
        fields
            .into_iter()
            .filter(|(name, _)| !name.eq_ignore_ascii_case("content-length"))
            .map(|(name, value)| (name, value.as_bytes())),
    )?;
    head.content_length = Some(body.len() as u64);
    Ok(head.into_response(full(body)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(request: &str) -> RequestHead {
        let (parts, ()) = hyper::Request::builder()
            .method("POST")
            .uri(request)
            .header("X-A", "1")
            .header("transfer-encoding", "chunked")
            .body(())
            .unwrap()
            .into_parts();
        RequestHead::new(&parts)
    }

    #[test]
    fn request_txt_and_json() {
        let head = head("/p/q?x=1&y");
        assert_eq!(head.txt(), b"POST /p/q?x=1&y HTTP/1.1\r\nx-a: 1\r\n\r\n");
        let json: Value = serde_json::from_slice(&head.json(b"hi")).unwrap();
        assert_eq!(
            json,
            json!({"method": "POST", "uri": "/p/q?x=1&y", "path": "/p/q", "query": "x=1&y",
                   "version": "HTTP/1.1", "headers": [["x-a", "1"]], "body": "hi"})
        );
        let json: Value = serde_json::from_slice(&head.json(&[0xff, 0])).unwrap();
        assert_eq!(json["body_base64"], "/wA=");
        assert!(json.get("body").is_none());
    }

    #[test]
    fn response_heads() {
        assert!(
            parse_response(b"HTTP/1.1 200 OK\r\nx: y\r\n")
                .unwrap()
                .is_none()
        );
        let (head, len) = parse_response(
            b"HTTP/1.1 201 Created\r\nContent-Length: 2\r\nConnection: close\r\n\r\nhi",
        )
        .unwrap()
        .unwrap();
        assert_eq!(len, 62);
        assert_eq!(head.status, StatusCode::CREATED);
        assert_eq!(head.content_length, Some(2));
        assert_eq!(head.headers.len(), 1, "connection is dropped");
        for bad in [
            &b"garbage\r\n\r\n"[..],
            b"HTTP/1.1 20 OK\r\n\r\n",
            b"HTTP/1.1 200 OK\r\ncontent-length: x\r\n\r\n",
            b"HTTP/1.1 200 OK\r\ncontent-length: 1\r\ncontent-length: 2\r\n\r\n",
        ] {
            assert!(
                parse_response(bad).is_err(),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn json_responses() {
        let response = parse_json_response(
            br#"{"status": 404, "headers": {"x-a": "1"}, "body_base64": "aGk="}"#,
        )
        .unwrap();
        assert_eq!(response.status(), 404);
        assert_eq!(response.headers()["x-a"], "1");
        for bad in [
            &br#"{"headers": []}"#[..],
            br#"{"status": 99}"#,
            br#"{"status": 200, "body": "a", "body_base64": ""}"#,
            br#"{"status": 200, "headers": [["a"]]}"#,
            b"[]",
            b"{",
        ] {
            assert!(
                parse_json_response(bad).is_err(),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }
}
