//! The ceiling of the stack: hyper on one current-thread runtime, answering
//! every request with the same JSON body and no work at all. What tracescan's
//! server reaches beside it is what its lookups cost.
//!
//!   fixed-body [ADDR] [BYTES]     # 127.0.0.1:8090, 600 bytes by default
//!
//! BYTES set to the mean size of tracescan's answers separates the cost of
//! the work from the cost of the bytes.

use std::convert::Infallible;
use std::net::SocketAddr;

use bytes::Bytes;
use http_body_util::Full;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Response, header};
use hyper_util::rt::TokioIo;

fn body(len: usize) -> Bytes {
    let mut s = String::from(
        r#"{"code":"08930002000017","match":"product","product":{"gtin":"08930002000017","name":"#,
    );
    s.push('"');
    let tail = r#""},"warnings":[]}"#;
    while s.len() + "Nước mắm ".len() + tail.len() <= len {
        s.push_str("Nước mắm ");
    }
    while s.len() + tail.len() < len {
        s.push(' ');
    }
    s.push_str(tail);
    Bytes::from(s)
}

fn main() -> std::io::Result<()> {
    let addr: SocketAddr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:8090".into())
        .parse()
        .map_err(std::io::Error::other)?;
    let len: usize = std::env::args()
        .nth(2)
        .map_or(Ok(600), |s| s.parse())
        .map_err(|e| std::io::Error::other(format!("BYTES: {e}")))?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let body = body(len);
        println!(
            "fixed-body listening on http://{addr}, {} bytes",
            body.len()
        );
        loop {
            let (stream, _) = listener.accept().await?;
            let _ = stream.set_nodelay(true);
            let body = body.clone();
            tokio::spawn(async move {
                let service = service_fn(move |_req| {
                    let mut resp = Response::new(Full::new(body.clone()));
                    resp.headers_mut().insert(
                        header::CONTENT_TYPE,
                        header::HeaderValue::from_static("application/json; charset=utf-8"),
                    );
                    async move { Ok::<_, Infallible>(resp) }
                });
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    })
}
