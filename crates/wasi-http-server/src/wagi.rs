//! WAGI compatibility (`spec/wasi-cloud.md`, "WAGI compatibility"): the
//! request as CGI 1.1 gives it (environment, arguments, stdin), the CGI
//! response read from the guest's stdout and passed on as `/response/txt`
//! would be.

use crate::exchange::{Exchange, MAX_CHUNK, Writer};
use crate::head::{MAX_FIELDS, MAX_HEAD};
use std::io::{self, PipeReader, PipeWriter, Read};
use std::os::fd::{AsFd, OwnedFd};
use std::sync::{Arc, Mutex};
use wasi_core::sync::lock;

/// Request fields not passed to a WAGI module as `HTTP_*` variables.
const HIDDEN_FIELDS: [&str; 2] = ["authorization", "connection"];

/// The CGI side of one exchange: what the guest is given, and the relay
/// of its stdout to the client.
pub struct Cgi {
    exchange: Arc<Exchange>,
    stdout: PipeReader,
    /// The guest's end of its stdout, until [`stdio`](Self::stdio) hands
    /// it out.
    guest_stdout: Mutex<Option<PipeWriter>>,
}

/// The route a WAGI module serves, as its CGI variables tell it.
#[derive(Clone, Copy, Debug)]
pub struct ScriptRoute<'a> {
    /// `SCRIPT_NAME`: the route's path, without its `/...` (empty for
    /// `/...`); `PATH_INFO` is what follows it in the request's path.
    pub script_name: &'a str,
    /// `X_MATCHED_ROUTE`: the route as written (`/api/...`).
    pub matched: &'a str,
}

impl ScriptRoute<'static> {
    /// Every path: `SCRIPT_NAME` empty, `PATH_INFO` the whole path
    /// (`wasirun serve --wagi`).
    pub const ALL: Self = Self {
        script_name: "",
        matched: "/...",
    };
}

impl Cgi {
    /// The CGI side of `exchange`.
    pub fn new(exchange: &Arc<Exchange>) -> io::Result<Self> {
        let (stdout, guest_stdout) = io::pipe()?;
        Ok(Self {
            exchange: Arc::clone(exchange),
            stdout,
            guest_stdout: Mutex::new(Some(guest_stdout)),
        })
    }

    /// The guest's arguments after `argv[0]`: the query's `&`-separated
    /// parts, `+` as space and percent-decoded, as WAGI passes them.
    pub fn args(&self) -> Vec<String> {
        let query = self.exchange.request().query();
        if query.is_empty() {
            return Vec::new();
        }
        query
            .split('&')
            .map(|part| {
                let part = part.replace('+', " ");
                String::from_utf8_lossy(&percent_decode(&part)).into_owned()
            })
            .collect()
    }

    /// The CGI variables, for a module at `script` serving `route`.
    pub fn env(&self, script: &str, route: &ScriptRoute<'_>) -> Vec<(String, Vec<u8>)> {
        let request = self.exchange.request();
        let header = |name: &str| request.header(name).unwrap_or_default().to_vec();
        let path = request.path();
        // What follows the route's path: the whole path for `/...`.
        let path_info = path.strip_prefix(route.script_name).unwrap_or(path);
        let host = request
            .header("host")
            .map(|host| String::from_utf8_lossy(host).into_owned())
            .or_else(|| request.local_addr.map(|addr| addr.to_string()))
            .unwrap_or_default();
        let server_name = host
            .rsplit_once(':')
            .filter(|(_, port)| port.bytes().all(|b| b.is_ascii_digit()))
            .map_or(host.as_str(), |(name, _)| name)
            .to_owned();
        let remote = request
            .remote_addr
            .map(|addr| addr.ip().to_string())
            .unwrap_or_default();
        let content_length = match request.header("content-length") {
            Some(length) => length.to_vec(),
            None => b"0".to_vec(),
        };
        let mut env: Vec<(String, Vec<u8>)> = vec![
            ("AUTH_TYPE".into(), Vec::new()),
            ("CONTENT_LENGTH".into(), content_length),
            ("CONTENT_TYPE".into(), header("content-type")),
            ("GATEWAY_INTERFACE".into(), b"CGI/1.1".to_vec()),
            ("PATH_INFO".into(), percent_decode(path_info)),
            ("PATH_TRANSLATED".into(), percent_decode(path_info)),
            ("QUERY_STRING".into(), request.query().into()),
            ("REMOTE_ADDR".into(), remote.clone().into_bytes()),
            ("REMOTE_HOST".into(), remote.into_bytes()),
            ("REMOTE_USER".into(), Vec::new()),
            ("REQUEST_METHOD".into(), request.method.clone().into_bytes()),
            ("SCRIPT_NAME".into(), route.script_name.as_bytes().to_vec()),
            ("SCRIPT_FILENAME".into(), script.as_bytes().to_vec()),
            ("SERVER_NAME".into(), server_name.into_bytes()),
            (
                "SERVER_PORT".into(),
                request
                    .local_addr
                    .map(|addr| addr.port().to_string())
                    .unwrap_or_default()
                    .into_bytes(),
            ),
            (
                "SERVER_PROTOCOL".into(),
                request.version.as_bytes().to_vec(),
            ),
            ("SERVER_SOFTWARE".into(), b"wasirun".to_vec()),
            (
                "X_FULL_URL".into(),
                format!("http://{host}{}", request.target).into_bytes(),
            ),
            ("X_MATCHED_ROUTE".into(), route.matched.as_bytes().to_vec()),
            ("X_RAW_PATH_INFO".into(), path_info.as_bytes().to_vec()),
        ];
        for (name, value) in &request.headers {
            if HIDDEN_FIELDS.contains(&name.as_str()) {
                continue;
            }
            let name = format!("HTTP_{}", name.to_ascii_uppercase().replace('-', "_"));
            env.push((name, value.clone()));
        }
        env
    }

    /// The guest's stdin (the request body stream), stdout (read by
    /// [`relay`](Self::relay)) and stderr (this process's), once.
    pub fn stdio(&self) -> io::Result<(OwnedFd, OwnedFd, OwnedFd)> {
        let stdout = lock(&self.guest_stdout)
            .take()
            .ok_or_else(|| io::Error::other("stdio was handed out already"))?;
        let stdin = match self.exchange.body() {
            Some(body) => body.try_clone()?,
            // No body: a pipe already at its end.
            None => io::pipe()?.0,
        };
        let stderr = io::stderr().as_fd().try_clone_to_owned()?;
        Ok((stdin.into(), stdout.into(), stderr))
    }

    /// Passes the guest's stdout to the client until the guest closes it:
    /// the CGI head becomes the response head, the rest is body, streamed.
    /// A malformed head gives 502; the rest of the output is then read and
    /// dropped, so that the guest never blocks on it.
    pub fn relay(&self) {
        let mut stdout = &self.stdout;
        // Nothing is written, but the file counts as the one the guest
        // writes: the exchange ends by `Exchange::finish`.
        if self.exchange.open_writer(Writer::Txt).is_err() {
            drain(stdout);
            return;
        }
        let mut buf = vec![0; MAX_CHUNK];
        let mut head = Vec::new();
        let body_start = loop {
            let n = match stdout.read(&mut buf) {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            };
            head.extend_from_slice(&buf[..n]);
            if let Some((end, body)) = blank_line(&head) {
                match http_head(&head[..end]) {
                    Ok(http) => {
                        let body = head.split_off(body);
                        if self.write_all(&http).is_err() {
                            drain(stdout);
                            return;
                        }
                        break body;
                    }
                    Err(why) => {
                        self.exchange.malformed(&why);
                        drain(stdout);
                        return;
                    }
                }
            }
            if head.len() > MAX_HEAD {
                self.exchange.malformed("the CGI head is too large");
                drain(stdout);
                return;
            }
        };
        if self.write_all(&body_start).is_err() {
            drain(stdout);
            return;
        }
        loop {
            let n = match stdout.read(&mut buf) {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            };
            if self.write_all(&buf[..n]).is_err() {
                drain(stdout);
                return;
            }
        }
    }

    fn write_all(&self, mut bytes: &[u8]) -> wasi_core::system::Result<()> {
        while !bytes.is_empty() {
            let n = self.exchange.write_txt(bytes)?;
            bytes = &bytes[n..];
        }
        Ok(())
    }
}

/// Reads `reader` to its end, dropping what comes.
fn drain(mut reader: &PipeReader) {
    let _ = io::copy(&mut reader, &mut io::sink());
}

/// Where the first empty line of `bytes` starts, and where what follows it
/// starts (lines end with `\n` or `\r\n`).
fn blank_line(bytes: &[u8]) -> Option<(usize, usize)> {
    let mut line_start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        if b == b'\n' {
            let line = &bytes[line_start..i];
            if line.is_empty() || line == b"\r" {
                return Some((line_start, i + 1));
            }
            line_start = i + 1;
        }
    }
    None
}

/// The HTTP/1.1 head for the CGI head `cgi` (its lines, without the empty
/// one), as WAGI reads it: `status` gives the status, `location` without
/// it 302; one of `content-type` and `location` is required.
fn http_head(cgi: &[u8]) -> Result<Vec<u8>, String> {
    let text = std::str::from_utf8(cgi).map_err(|_| "the CGI head is not UTF-8".to_owned())?;
    let mut status = None;
    let mut typed = false;
    let mut located = false;
    let mut fields = Vec::new();
    for line in text.lines() {
        let line = line.trim_end_matches('\r');
        let (name, value) = line
            .split_once(':')
            .ok_or_else(|| format!("malformed CGI header line {line:?}"))?;
        let (name, value) = (name.trim(), value.trim());
        match name.to_ascii_lowercase().as_str() {
            "status" => {
                let code = value.split_whitespace().next().unwrap_or_default();
                status = Some(
                    code.parse::<u16>()
                        .ok()
                        .filter(|code| (100..=999).contains(code))
                        .ok_or_else(|| format!("invalid CGI status {value:?}"))?,
                );
                continue;
            }
            "content-type" => typed = true,
            "location" => located = true,
            _ => {}
        }
        fields.push((name, value));
    }
    if !typed && !located {
        return Err("the CGI response has neither content-type nor location".into());
    }
    if fields.len() > MAX_FIELDS {
        return Err(format!("more than {MAX_FIELDS} CGI header fields"));
    }
    let status = status.unwrap_or(if located && !typed { 302 } else { 200 });
    let mut head = format!("HTTP/1.1 {status} \r\n");
    for (name, value) in fields {
        head.push_str(name);
        head.push_str(": ");
        head.push_str(value);
        head.push_str("\r\n");
    }
    head.push_str("\r\n");
    Ok(head.into_bytes())
}

/// `%XX` sequences decoded; malformed ones kept as they are.
fn percent_decode(text: &str) -> Vec<u8> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(hex) = bytes.get(i + 1..i + 3)
            && let Ok(hex) = std::str::from_utf8(hex)
            && let Ok(byte) = u8::from_str_radix(hex, 16)
        {
            out.push(byte);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cgi_heads() {
        assert_eq!(blank_line(b"a: b\r\n\r\nbody"), Some((6, 8)));
        assert_eq!(blank_line(b"a: b\n\nbody"), Some((5, 6)));
        assert_eq!(blank_line(b"a: b\n"), None);
        assert_eq!(
            http_head(b"Content-Type: text/plain\nStatus: 404 Not Found\n").unwrap(),
            b"HTTP/1.1 404 \r\nContent-Type: text/plain\r\n\r\n"
        );
        assert_eq!(
            http_head(b"location: /elsewhere\r\n").unwrap(),
            b"HTTP/1.1 302 \r\nlocation: /elsewhere\r\n\r\n"
        );
        assert!(http_head(b"x-a: 1\n").is_err());
        assert!(http_head(b"content-type: a\nstatus: abc\n").is_err());
        assert!(http_head(b"no colon\n").is_err());
    }

    #[test]
    fn percent_decoding() {
        assert_eq!(percent_decode("a%20b%2Fc%zz%4"), b"a b/c%zz%4");
    }
}
