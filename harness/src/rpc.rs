//! JSON-RPC to lightningd through `cln-rpc`'s untyped `call_raw`, so one
//! client drives every CLN version; plus a raw mode that writes any JSON
//! object to the socket. Every call has a timeout, and its error names the
//! node, the method and how long it waited.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The socket path to *connect* to. Unix socket paths are limited to
/// about 107 bytes, and a deep lightning-dir exceeds that; lightningd
/// itself is unaffected (it binds relative to its dir), so the harness
/// connects through a short symlink to the socket's directory instead.
#[derive(Debug)]
pub struct SocketPath {
    pub real: PathBuf,
    connect: PathBuf,
    _short_dir: Option<tempfile::TempDir>,
}

pub const MAX_SOCKET_PATH: usize = 100;

impl SocketPath {
    pub fn new(real: PathBuf) -> std::io::Result<SocketPath> {
        if real.as_os_str().len() <= MAX_SOCKET_PATH {
            return Ok(SocketPath {
                connect: real.clone(),
                real,
                _short_dir: None,
            });
        }
        // In /tmp, not $TMPDIR: short is the point. Private like every temp
        // dir (the link inside names the node's socket dir).
        let short = crate::userdirs::private_tempdir_in("clnh-", Path::new("/tmp"))?;
        let link = short.path().join("d");
        std::os::unix::fs::symlink(real.parent().unwrap_or(Path::new("/")), &link)?;
        let connect = link.join(real.file_name().unwrap_or_default());
        Ok(SocketPath {
            real,
            connect,
            _short_dir: Some(short),
        })
    }
    pub fn connect_path(&self) -> &Path {
        &self.connect
    }
}

#[derive(Debug, Clone, thiserror::Error)]
#[error("node {node}: `{method}` {kind}")]
pub struct CallError {
    pub node: String,
    pub method: String,
    pub elapsed: Duration,
    #[source]
    pub kind: CallErrorKind,
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum CallErrorKind {
    #[error("could not connect to {path}: {message}")]
    Connect { path: PathBuf, message: String },
    #[error("did not answer within {0:?}")]
    Timeout(Duration),
    /// lightningd answered with a JSON-RPC error.
    #[error("failed with code {code:?}: {message}")]
    Rpc {
        code: Option<i64>,
        message: String,
        data: Option<Value>,
    },
    /// The connection broke without an answer (typically: lightningd died).
    #[error("lost the connection: {0}")]
    Closed(String),
}

impl CallError {
    /// The error as JSON, for `expect.error` matching and reports.
    pub fn to_json(&self) -> Value {
        match &self.kind {
            CallErrorKind::Rpc {
                code,
                message,
                data,
            } => {
                serde_json::json!({"code": code, "message": message, "data": data})
            }
            other => serde_json::json!({"code": null, "message": other.to_string()}),
        }
    }
}

/// One call on a fresh connection: a crashed node can't poison later calls,
/// and a timed-out call leaves no half-read stream behind.
pub async fn call(
    node: &str,
    socket: &Path,
    method: &str,
    params: &Value,
    timeout: Duration,
) -> Result<Value, CallError> {
    let started = Instant::now();
    let err = |kind| CallError {
        node: node.into(),
        method: method.into(),
        elapsed: started.elapsed(),
        kind,
    };
    let fut = async {
        let mut client =
            cln_rpc::ClnRpc::new(socket)
                .await
                .map_err(|e| CallErrorKind::Connect {
                    path: socket.to_path_buf(),
                    message: e.to_string(),
                })?;
        client
            .call_raw::<Value, Value>(method, params)
            .await
            .map_err(|e| match e.code {
                Some(code) => CallErrorKind::Rpc {
                    code: Some(code as i64),
                    message: e.message,
                    data: e.data,
                },
                // cln-rpc reports a broken stream as an error without a code.
                None => CallErrorKind::Closed(e.message),
            })
    };
    match tokio::time::timeout(timeout, fut).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(kind)) => Err(err(kind)),
        Err(_) => Err(err(CallErrorKind::Timeout(timeout))),
    }
}

/// What came back from a raw request.
#[derive(Debug, Clone, PartialEq)]
pub enum RawReply {
    /// The first complete JSON object lightningd sent back.
    Json(Value),
    /// The socket closed (or the text was unparsable) before a reply; with
    /// whatever bytes did arrive.
    Closed { partial: String },
}

/// Write `request` verbatim (any bytes: malformed on purpose is allowed)
/// and return the first JSON object that answers it.
pub async fn raw(
    node: &str,
    socket: &Path,
    request: &[u8],
    timeout: Duration,
) -> Result<RawReply, CallError> {
    let started = Instant::now();
    let err = |kind| CallError {
        node: node.into(),
        method: "<raw>".into(),
        elapsed: started.elapsed(),
        kind,
    };
    let fut = async {
        let mut stream =
            tokio::net::UnixStream::connect(socket)
                .await
                .map_err(|e| CallErrorKind::Connect {
                    path: socket.to_path_buf(),
                    message: e.to_string(),
                })?;
        stream
            .write_all(request)
            .await
            .map_err(|e| CallErrorKind::Closed(e.to_string()))?;
        let mut buf = Vec::new();
        let mut chunk = [0u8; 8192];
        loop {
            if let Some(v) = first_reply(&buf) {
                return Ok(RawReply::Json(v));
            }
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => {
                    return Ok(RawReply::Closed {
                        partial: String::from_utf8_lossy(&buf).into_owned(),
                    })
                }
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
    };
    match tokio::time::timeout(timeout, fut).await {
        Ok(r) => r.map_err(err),
        Err(_) => Err(err(CallErrorKind::Timeout(timeout))),
    }
}

/// The first complete JSON value in `buf` that is not a notification.
fn first_reply(buf: &[u8]) -> Option<Value> {
    let stream = serde_json::Deserializer::from_slice(buf).into_iter::<Value>();
    for v in stream {
        match v {
            Ok(v) if v.get("id").is_some() || v.get("method").is_none() => return Some(v),
            Ok(_) => continue,
            Err(_) => return None,
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_socket_paths_get_a_short_alias() {
        let d = tempfile::tempdir().unwrap();
        let deep = d.path().join("x".repeat(60)).join("y".repeat(60));
        std::fs::create_dir_all(&deep).unwrap();
        let real = deep.join("lightning-rpc");
        let s = SocketPath::new(real.clone()).unwrap();
        assert!(s.connect_path().as_os_str().len() <= MAX_SOCKET_PATH);
        let listener = std::os::unix::net::UnixListener::bind(s.connect_path());
        // Binding through the alias lands in the real directory.
        if listener.is_ok() {
            assert!(real.exists());
        }
    }

    #[test]
    fn replies_skip_notifications_and_wait_for_completeness() {
        let note = br#"{"jsonrpc":"2.0","method":"message","params":{}}"#;
        let mut buf = note.to_vec();
        buf.extend_from_slice(br#"{"jsonrpc":"2.0","id":1,"result":{"#);
        assert_eq!(first_reply(&buf), None);
        buf.extend_from_slice(b"}}");
        assert_eq!(first_reply(&buf).unwrap()["id"], 1);
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_closed_socket_is_reported_as_closed() {
        let d = tempfile::tempdir().unwrap();
        let path = d.path().join("rpc");
        let listener = tokio::net::UnixListener::bind(&path).unwrap();
        tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            let mut b = [0u8; 64];
            let _ = s.read(&mut b).await;
            s.write_all(b"{\"partial\":").await.unwrap();
        });
        let r = raw("alice", &path, b"{not json", Duration::from_secs(5))
            .await
            .unwrap();
        assert_eq!(
            r,
            RawReply::Closed {
                partial: "{\"partial\":".into()
            }
        );
    }
}
