//! Slow and idle connections: a stalled request head and an idle kept-alive socket are closed
//! within their timeouts while the server keeps answering, one address cannot hold more than
//! its share of connections, request heads are bounded, and shutdown does not wait for a
//! stalled socket.

use std::net::SocketAddr;
use std::time::Duration;

use gatehouse::paths;
use gatehouse_tests::{TestServer, standard_config};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpSocket, TcpStream};

fn config(extra: &str) -> String {
    standard_config().replace("[server]\n", &format!("[server]\n{extra}\n"))
}

fn addr(s: &TestServer) -> SocketAddr {
    s.base.trim_start_matches("http://").parse().unwrap()
}

/// A connection to the server from the loopback address `from` (127.0.0.x).
async fn connect_from(s: &TestServer, from: [u8; 4]) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind(SocketAddr::from((from, 0))).unwrap();
    socket.connect(addr(s)).await.unwrap()
}

/// Waits until the peer closes `conn` (end of stream or reset), at most `within`; returns how
/// long that took, or `None` if it stayed open.
async fn closed_within(conn: &mut TcpStream, within: Duration) -> Option<Duration> {
    let started = gatehouse::clock::monotonic();
    let mut buf = [0u8; 4096];
    loop {
        match tokio::time::timeout_at((started + within).into(), conn.read(&mut buf)).await {
            Err(_) => return None,
            Ok(Ok(0) | Err(_)) => return Some(started.elapsed()),
            Ok(Ok(_)) => {}
        }
    }
}

async fn ping_from(s: &TestServer, from: [u8; 4]) -> String {
    let mut c = connect_from(s, from).await;
    c.write_all(b"GET /ping HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n").await.unwrap();
    let mut out = String::new();
    tokio::time::timeout(Duration::from_secs(5), c.read_to_string(&mut out)).await.expect("answered").unwrap();
    out
}

#[tokio::test]
async fn a_stalled_request_head_is_closed_at_the_header_timeout_while_others_are_served() {
    let s = TestServer::start_with(&config("header_read_timeout = \"600ms\"\nkeepalive_timeout = \"600ms\"")).await;
    let mut stalled = Vec::new();
    for _ in 0..5 {
        let mut c = connect_from(&s, [127, 0, 0, 1]).await;
        c.write_all(b"GET /ping HTTP/1.1\r\nhost: x\r\nx-slow: ").await.unwrap();
        stalled.push(c);
    }
    // Meanwhile the server answers.
    assert!(ping_from(&s, [127, 0, 0, 1]).await.contains("\"status\":\"ok\""));
    for c in &mut stalled {
        let took = closed_within(c, Duration::from_secs(5)).await.expect("the stalled connection was closed");
        assert!(took < Duration::from_secs(3), "closed after {took:?}");
    }
    // A head that trickles in byte by byte is cut off too: the timeout is for the whole head.
    let mut c = connect_from(&s, [127, 0, 0, 1]).await;
    let started = gatehouse::clock::monotonic();
    for b in b"GET /ping HTTP/1.1\r\nhost: x\r\nx-slow: aaaaaaaaaaaaaaaaaaaaaaaa" {
        if c.write_all(&[*b]).await.is_err() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(closed_within(&mut c, Duration::from_secs(5)).await.is_some());
    assert!(started.elapsed() < Duration::from_secs(4), "{:?}", started.elapsed());
}

#[tokio::test]
async fn an_idle_kept_alive_connection_is_closed() {
    let s = TestServer::start_with(&config("keepalive_timeout = \"400ms\"")).await;
    let mut c = connect_from(&s, [127, 0, 0, 1]).await;
    c.write_all(b"GET /ping HTTP/1.1\r\nhost: x\r\n\r\n").await.unwrap();
    let mut buf = [0u8; 1024];
    let n = c.read(&mut buf).await.unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
    let took = closed_within(&mut c, Duration::from_secs(5)).await.expect("the idle connection was closed");
    assert!(took >= Duration::from_millis(300) && took < Duration::from_secs(3), "closed after {took:?}");
    // A connection in use is not idle: a second request on a fresh one is answered as usual.
    assert!(ping_from(&s, [127, 0, 0, 1]).await.starts_with("HTTP/1.1 200"));
}

#[tokio::test]
async fn one_address_holds_at_most_its_share_of_connections() {
    let s = TestServer::start_with(&config(
        "max_connections_per_ip = 3\nheader_read_timeout = \"30s\"\nkeepalive_timeout = \"30s\"",
    ))
    .await;
    let mut held = Vec::new();
    for _ in 0..3 {
        let mut c = connect_from(&s, [127, 0, 0, 2]).await;
        c.write_all(b"GET /ping HTTP/1.1\r\nhost: x\r\n").await.unwrap();
        held.push(c);
    }
    // The fourth from that address is closed at once, without an answer.
    let mut fourth = connect_from(&s, [127, 0, 0, 2]).await;
    let _ = fourth.write_all(b"GET /ping HTTP/1.1\r\nhost: x\r\n\r\n").await;
    assert!(closed_within(&mut fourth, Duration::from_secs(2)).await.is_some(), "over the per-address cap");
    // Other addresses are served.
    assert!(ping_from(&s, [127, 0, 0, 3]).await.starts_with("HTTP/1.1 200"));
    // Once one of its connections closes, the address may connect again.
    drop(held.pop());
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(ping_from(&s, [127, 0, 0, 2]).await.starts_with("HTTP/1.1 200"));
}

#[tokio::test]
async fn request_heads_are_bounded() {
    let s = TestServer::start_with(&config("max_header_bytes = 16384")).await;
    let mut c = connect_from(&s, [127, 0, 0, 1]).await;
    let big = format!("GET /ping HTTP/1.1\r\nhost: x\r\nx-big: {}\r\n\r\n", "a".repeat(40 * 1024));
    let _ = c.write_all(big.as_bytes()).await;
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), c.read_to_end(&mut out)).await.expect("closed");
    let text = String::from_utf8_lossy(&out);
    assert!(text.is_empty() || text.starts_with("HTTP/1.1 431"), "{text}");
    assert!(ping_from(&s, [127, 0, 0, 1]).await.starts_with("HTTP/1.1 200"));
}

#[tokio::test]
async fn shutdown_does_not_wait_for_stalled_or_idle_sockets() {
    let s = TestServer::start_with(&config(
        "shutdown_timeout = \"60s\"\nheader_read_timeout = \"60s\"\nkeepalive_timeout = \"60s\"",
    ))
    .await;
    let mut stalled = connect_from(&s, [127, 0, 0, 1]).await;
    stalled.write_all(b"GET /ping HTTP/1.1\r\nhost: x\r\n").await.unwrap();
    let mut idle = connect_from(&s, [127, 0, 0, 1]).await;
    idle.write_all(b"GET /ping HTTP/1.1\r\nhost: x\r\n\r\n").await.unwrap();
    let mut buf = [0u8; 1024];
    let _ = idle.read(&mut buf).await.unwrap();
    let http = s.http.clone();
    let url = s.url(paths::PING);
    assert_eq!(http.get(&url).send().await.unwrap().status(), 200);
    let started = gatehouse::clock::monotonic();
    let _ = s.stop().await;
    assert!(started.elapsed() < Duration::from_secs(5), "shutdown took {:?}", started.elapsed());
    assert!(closed_within(&mut stalled, Duration::from_secs(1)).await.is_some());
    assert!(closed_within(&mut idle, Duration::from_secs(1)).await.is_some());
}
