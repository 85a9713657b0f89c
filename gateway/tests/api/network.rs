//! A hostile or unlucky client on the network: a page on a rebinding domain,
//! half-sent request heads, one address taking every connection or stream
//! slot, a gateway listening beyond loopback, reads behind the token.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use wire::{ErrorBody, ErrorCode};

use crate::helpers::*;

/// A TCP connection to the gateway from `from` (any 127.x.y.z is this
/// machine's loopback: a second client address without a second host).
async fn connect_from(app: &TestApp, from: &str) -> TcpStream {
    let socket = TcpSocket::new_v4().expect("socket");
    socket
        .bind(SocketAddr::new(from.parse().expect("ip"), 0))
        .expect("bind the client address");
    socket.connect(app.addr).await.expect("connect")
}

/// Sends `request` as it is and reads the answer to the end: its status and
/// body.
async fn exchange(mut tcp: TcpStream, request: &str) -> (u16, String) {
    tcp.write_all(request.as_bytes()).await.expect("send");
    let mut answer = Vec::new();
    tokio::time::timeout(PATIENCE, tcp.read_to_end(&mut answer))
        .await
        .expect("an answer in time")
        .expect("read");
    let answer = String::from_utf8_lossy(&answer).into_owned();
    let status = answer
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {answer:?}"));
    let body = answer
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

fn get(path: &str, host: &str, extra: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nHost: {host}\r\n{extra}Connection: close\r\n\r\n")
}

const UPGRADE: &str = "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\
                       Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n";

#[tokio::test]
async fn a_request_naming_a_host_that_is_not_the_gateways_is_refused() {
    let app = spawn_with(|c| c.public_hosts = vec!["dash.example.com".into()]).await;
    let port = app.addr.port();
    let evil = format!("evil.example:{port}");
    let (status, body) = exchange(
        connect_from(&app, "127.0.0.1").await,
        &get("/api/services", &evil, ""),
    )
    .await;
    assert_eq!(status, 403, "{body}");
    let error: ErrorBody = serde_json::from_str(&body).expect("the error shape");
    assert_eq!(error.code, ErrorCode::Forbidden);
    assert!(error.message.contains("evil.example"), "{}", error.message);

    // The rebinding attack itself: a same-origin WebSocket from the page.
    let request =
        format!("GET /ws HTTP/1.1\r\nHost: {evil}\r\nOrigin: http://{evil}\r\n{UPGRADE}\r\n");
    let mut tcp = connect_from(&app, "127.0.0.1").await;
    tcp.write_all(request.as_bytes()).await.expect("send");
    let mut head = [0u8; 12];
    tcp.read_exact(&mut head).await.expect("a status line");
    assert_eq!(&head, b"HTTP/1.1 403");

    // A target in absolute form names the host too (and for HTTP/1.1
    // wins over `Host`, RFC 9112 3.2.2): it must be one of the gateway's.
    let (status, body) = exchange(
        connect_from(&app, "127.0.0.1").await,
        &get(
            &format!("http://{evil}/api/services"),
            &format!("127.0.0.1:{port}"),
            "",
        ),
    )
    .await;
    assert_eq!(status, 403, "{body}");

    for host in [
        format!("127.0.0.1:{port}"),
        format!("localhost:{port}"),
        format!("dash.example.com:{port}"),
        "[::1]".to_owned(),
    ] {
        let (status, body) = exchange(
            connect_from(&app, "127.0.0.1").await,
            &get("/api/services", &host, ""),
        )
        .await;
        assert_eq!(status, 200, "{host}: {body}");
    }
}

#[tokio::test]
async fn half_sent_request_heads_are_closed_within_the_header_timeout() {
    let timeout = Duration::from_millis(1_000);
    let app = spawn_with(|c| {
        c.header_timeout_ms = 1_000;
        c.max_connections_per_address = 300;
    })
    .await;
    let started = Instant::now();
    let mut heads = Vec::new();
    for _ in 0..200 {
        let mut tcp = connect_from(&app, "127.0.0.1").await;
        tcp.write_all(b"GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\n")
            .await
            .expect("half a head");
        heads.push(tcp);
    }
    let closed = heads.into_iter().map(|mut tcp| async move {
        let mut rest = Vec::new();
        // The gateway closes the connection: the read ends (with or
        // without a 408 first).
        tokio::time::timeout(PATIENCE, tcp.read_to_end(&mut rest))
            .await
            .is_ok()
    });
    let closed = futures_util::future::join_all(closed).await;
    assert!(
        closed.iter().all(|c| *c),
        "{} of 200 half-sent heads still open after {PATIENCE:?}",
        closed.iter().filter(|c| !**c).count()
    );
    let took = started.elapsed();
    eprintln!("200 half-sent heads all closed {took:?} after the first was opened");
    assert!(
        took < timeout + Duration::from_secs(5),
        "closing them took {took:?}"
    );
    // And the gateway still serves.
    assert_eq!(app.get("/api/services").await.status(), 200);
}

#[tokio::test]
async fn one_address_cannot_take_every_connection() {
    let app = spawn_with(|c| c.max_connections_per_address = 5).await;
    let mut held = Vec::new();
    for _ in 0..5 {
        held.push(connect_from(&app, "127.0.0.1").await);
    }
    let (status, body) = exchange(
        connect_from(&app, "127.0.0.1").await,
        &get("/api/services", "127.0.0.1", ""),
    )
    .await;
    assert_eq!(status, 503, "{body}");
    let error: ErrorBody = serde_json::from_str(&body).expect("the error shape");
    assert_eq!(error.code, ErrorCode::TooManyClients);
    assert!(
        error.message.contains("client address"),
        "{}",
        error.message
    );

    // Another address is still served.
    let (status, body) = exchange(
        connect_from(&app, "127.0.0.2").await,
        &get("/api/services", "127.0.0.1", ""),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    drop(held);
}

#[tokio::test]
async fn websockets_count_among_their_addresss_connections() {
    let app = spawn_with(|c| c.max_connections_per_address = 3).await;
    let mut streams = Vec::new();
    for _ in 0..3 {
        let (status, client) = stream_from(&app, "127.0.0.1").await;
        assert_eq!(status, 101);
        streams.push(client);
    }
    let (status, body) = exchange(
        connect_from(&app, "127.0.0.1").await,
        &get("/api/services", "127.0.0.1", ""),
    )
    .await;
    assert_eq!(status, 503, "{body}");
    streams.clear();
    until("the sockets' places to be given back", || async {
        let (status, _) = exchange(
            connect_from(&app, "127.0.0.1").await,
            &get("/api/services", "127.0.0.1", ""),
        )
        .await;
        (status == 200).then_some(())
    })
    .await;
}

#[tokio::test]
async fn a_head_still_coming_past_64_kib_is_refused() {
    let app = spawn_app().await;
    let mut tcp = connect_from(&app, "127.0.0.1").await;
    tcp.write_all(b"GET /api/services HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Padding: ")
        .await
        .expect("send");
    // A head that never ends, sent a piece at a time as a slow client does:
    // the gateway stops buffering it at 64 KiB.
    let piece = vec![b'a'; 8 * 1024];
    for _ in 0..16 {
        if tcp.write_all(&piece).await.is_err() {
            break;
        }
        tokio::task::yield_now().await;
    }
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(PATIENCE, tcp.read_to_end(&mut answer)).await;
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 431"), "{answer}");
}

/// Opens `/ws` from `from`; the status of the upgrade.
async fn stream_from(app: &TestApp, from: &str) -> (u16, Option<LiveClient>) {
    stream_of(app, from, "").await
}

/// `/ws?{query}` from the address `from`: the status, and the client if served.
pub(crate) async fn stream_of(app: &TestApp, from: &str, query: &str) -> (u16, Option<LiveClient>) {
    let tcp = connect_from(app, from).await;
    let request = format!("ws://{}/ws?{query}", app.addr)
        .into_client_request()
        .expect("request");
    match tokio_tungstenite::client_async(request, tokio_tungstenite::MaybeTlsStream::Plain(tcp))
        .await
    {
        Ok((socket, response)) => (response.status().as_u16(), Some(LiveClient { socket })),
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            (response.status().as_u16(), None)
        }
        Err(other) => panic!("upgrade failed: {other}"),
    }
}

#[tokio::test]
async fn one_address_cannot_take_every_live_client_slot() {
    let app = spawn_with(|c| c.max_clients_per_address = 3).await;
    let mut clients = Vec::new();
    for _ in 0..3 {
        let (status, client) = stream_from(&app, "127.0.0.1").await;
        assert_eq!(status, 101);
        clients.push(client);
    }
    assert_eq!(stream_from(&app, "127.0.0.1").await.0, 503);
    assert_eq!(
        stream_from(&app, "127.0.0.2").await.0,
        101,
        "another address"
    );
    // A slot freed is a slot to take again.
    clients.pop();
    until("the slot to be given back", || async {
        (stream_from(&app, "127.0.0.1").await.0 == 101).then_some(())
    })
    .await;
}

#[tokio::test]
async fn a_gateway_beyond_loopback_refuses_to_start_with_writes_open() {
    let listener = tokio::net::TcpListener::bind("0.0.0.0:0")
        .await
        .expect("bind");
    let config = gateway::Config::new(brokers(), unique("open"));
    // (A gateway that started would serve until the timeout: the test fails.)
    let refused = tokio::time::timeout(
        PATIENCE,
        gateway::run(listener, config, std::future::pending()),
    )
    .await
    .expect("it refuses at once, rather than serving")
    .expect_err("refused");
    let message = refused.to_string();
    assert!(message.contains("--allow-open-writes"), "{message}");

    // The binary refuses before it listens, and says why.
    let output = tokio::task::spawn_blocking(|| {
        std::process::Command::new(env!("CARGO_BIN_EXE_gateway"))
            .args(["--listen", "0.0.0.0:0", "--brokers", &brokers()])
            .env_remove("GATEWAY_API_TOKEN")
            .output()
    })
    .await
    .expect("task")
    .expect("run the gateway");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("without an API token"), "{stderr}");
    assert!(
        !String::from_utf8_lossy(&output.stdout).contains("listening"),
        "it must not listen"
    );
}

#[tokio::test]
async fn writes_open_on_purpose_are_said_so_by_health() {
    let app = spawn_with(|c| {
        c.allow_open_writes = true;
    })
    .await;
    let (_, health) = app.health().await;
    assert!(!health.access.writes_need_token);
    assert!(!health.access.reads_need_token);
    let closed = spawn_with(|c| c.api_token = Some("t".into())).await;
    let (_, health) = closed.health().await;
    assert!(health.access.writes_need_token);
}

#[tokio::test]
async fn with_reads_protected_every_read_and_the_stream_need_the_token_or_the_read_key() {
    let app = spawn_with(|c| {
        c.api_token = Some("s3cret".into());
        c.protect_reads = true;
    })
    .await;
    let (status, health) = app.health().await;
    assert!(status == 200 || status == 503, "health stays open");
    assert!(health.access.reads_need_token);
    for path in [
        "/api/groups",
        "/api/services",
        "/api/topics",
        "/api/openapi.json",
    ] {
        assert_eq!(app.get(path).await.status(), 401, "{path}");
    }
    assert_eq!(stream_from(&app, "127.0.0.1").await.0, 401);
    // The dashboard's files are not behind the token.
    assert_ne!(app.get("/").await.status(), 401);

    // The token opens reads as a bearer; the page trades it for the cookie.
    let response = app
        .http
        .get(app.url("/api/services"))
        .header("authorization", "Bearer s3cret")
        .send()
        .await
        .expect("GET");
    assert_eq!(response.status(), 200);
    let refused = app
        .http
        .post(app.url("/api/session"))
        .send()
        .await
        .expect("POST");
    assert_eq!(refused.status(), 401, "a session needs the token");
    let session = app
        .http
        .post(app.url("/api/session"))
        .header("authorization", "Bearer s3cret")
        .send()
        .await
        .expect("POST");
    assert_eq!(session.status(), 204);
    let cookie = session
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .expect("a cookie")
        .to_owned();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    assert!(
        !cookie.contains("s3cret"),
        "the cookie is not the token: {cookie}"
    );
    let pair = cookie.split(';').next().expect("name=value").to_owned();

    // (`/api/services` answers from the gateway alone; `/api/groups` may be
    // 503 while the broker is slow to describe groups, which is not what
    // this test is about, so it is only checked not to be refused.)
    for path in ["/api/services", "/api/groups"] {
        let with_cookie = app
            .http
            .get(app.url(path))
            .header("cookie", &pair)
            .send()
            .await
            .expect("GET");
        if path == "/api/services" {
            assert_eq!(with_cookie.status(), 200, "{path}");
        } else {
            assert_ne!(with_cookie.status(), 401, "{path}");
        }
    }
    let mut request = format!("ws://{}/ws", app.addr)
        .into_client_request()
        .expect("request");
    request
        .headers_mut()
        .insert("cookie", pair.parse().expect("header"));
    let (_, response) = tokio_tungstenite::connect_async(request)
        .await
        .expect("the stream opens with the read key");
    assert_eq!(response.status(), 101);

    // The read key opens reads only: a write still needs the token.
    let write = app
        .http
        .post(app.url("/api/orders"))
        .header("cookie", &pair)
        .json(&order("c"))
        .send()
        .await
        .expect("POST");
    assert_eq!(write.status(), 401);
    let forged = app
        .http
        .get(app.url("/api/groups"))
        .header("cookie", "kafka_flow_read_key=guess")
        .send()
        .await
        .expect("GET");
    assert_eq!(forged.status(), 401);
    let closed = app
        .http
        .delete(app.url("/api/session"))
        .send()
        .await
        .expect("DELETE");
    assert_eq!(closed.status(), 204);
    assert!(
        closed
            .headers()
            .get("set-cookie")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|c| c.contains("Max-Age=0"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_huge_batch_bodies_at_once_add_little_memory() {
    const LIMIT: usize = 1024 * 1024;
    // Four at once from this one address: the test's own cap.
    let gateway = GatewayProcess::start(
        &brokers(),
        &["--no-services", "--max-batches-per-address", "4"],
    )
    .await;
    let http = reqwest::Client::new();
    // A body of a million zeros, just under the batch limit.
    let mut body = String::from("{\"orders\":[");
    while body.len() < LIMIT - 4 {
        body.push_str("0,");
    }
    body.push_str("0]}");
    assert!(body.len() <= LIMIT);
    let send = |body: String| {
        let (http, url) = (http.clone(), gateway.url("/api/orders/batch"));
        async move {
            let response = http
                .post(url)
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await
                .expect("POST");
            let status = response.status().as_u16();
            let error: ErrorBody = response.json().await.expect("the error shape");
            (status, error)
        }
    };
    // One first, so that what every request allocates anyway is counted
    // in the baseline.
    let (status, error) = send(body.clone()).await;
    assert_eq!(status, 422);
    assert_eq!(
        error.field.as_deref(),
        Some("orders[0]"),
        "{}",
        error.message
    );
    let before = gateway.memory_kib("VmHWM");
    let answers = futures_util::future::join_all((0..4).map(|_| send(body.clone()))).await;
    for (status, error) in answers {
        assert_eq!(status, 422, "{}", error.message);
        assert_eq!(error.code, ErrorCode::InvalidField);
    }
    let added = gateway.memory_kib("VmHWM").saturating_sub(before);
    eprintln!("four 1 MiB bodies at once: peak memory +{added} KiB (from {before} KiB)");
    assert!(
        added < 20 * 1024,
        "four 1 MiB bodies raised the gateway's peak memory by {} MiB",
        added / 1024
    );
    let (_, clean, log) = gateway.terminate(Duration::from_secs(25)).await;
    assert!(clean, "{log}");
}

#[tokio::test]
async fn one_address_cannot_hold_every_turn_to_send_a_batch() {
    let app = spawn_with(|c| c.max_batches_per_address = 2).await;
    app.wait_healthy().await;
    // Two batches whose bodies trickle in: each holds its turn.
    let mut slow = Vec::new();
    for _ in 0..2 {
        let mut tcp = connect_from(&app, "127.0.0.1").await;
        tcp.write_all(
            b"POST /api/orders/batch HTTP/1.1\r\nHost: 127.0.0.1\r\n\
              Content-Type: application/json\r\nContent-Length: 500000\r\n\r\n{",
        )
        .await
        .expect("send");
        slow.push(tcp);
    }
    let body = serde_json::json!({"orders": [order("b")]}).to_string();
    let request = format!(
        "POST /api/orders/batch HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let busy = until("the slow batches to hold their turns", || async {
        let (status, body) = exchange(connect_from(&app, "127.0.0.1").await, &request).await;
        (status == 503).then_some(body)
    })
    .await;
    let error: ErrorBody = serde_json::from_str(&busy).expect("the error shape");
    assert_eq!(error.code, ErrorCode::Busy);
    let (status, body) = exchange(connect_from(&app, "127.0.0.2").await, &request).await;
    assert_eq!(status, 202, "another address is served: {body}");
    drop(slow);
}

#[tokio::test]
async fn the_connection_bound_fits_the_files_the_process_may_open() {
    use tokio::io::{AsyncBufReadExt, BufReader};
    let bound = [
        "--max-connections",
        "1000",
        "--max-connections-per-address",
        "1000",
    ];
    let quiet = ["--no-services", "--header-timeout-ms", "60000"];

    // Room to raise the soft limit: raised as far as the bound needs
    // (1,000 connections and the 512 files the gateway keeps for itself).
    let roomy = GatewayProcess::start_under(
        &["prlimit", "--nofile=256:4096", "--"],
        &brokers(),
        &[&bound[..], &quiet[..]].concat(),
    )
    .await;
    roomy.wait_healthy().await;
    assert_eq!(roomy.open_file_limits(), (1512, 4096));
    roomy.terminate(Duration::from_secs(15)).await;

    // No room: 600 files leave 88 connections, and the 89th is refused
    // with 503 rather than left unaccepted.
    let tight = GatewayProcess::start_under(
        &["prlimit", "--nofile=600:600", "--"],
        &brokers(),
        &[&bound[..], &quiet[..]].concat(),
    )
    .await;
    let mut held = Vec::new();
    for i in 0..=88 {
        let mut tcp = TcpStream::connect(tight.host()).await.expect("connect");
        // A route that does not exist: answered at once, the connection kept.
        let request = format!("GET /api/none HTTP/1.1\r\nHost: {}\r\n\r\n", tight.host());
        tcp.write_all(request.as_bytes()).await.expect("send");
        let mut reader = BufReader::new(tcp);
        let mut status = String::new();
        reader.read_line(&mut status).await.expect("a status line");
        let expected = if i < 88 {
            "HTTP/1.1 404 "
        } else {
            "HTTP/1.1 503 "
        };
        assert!(status.starts_with(expected), "connection {i}: {status}");
        held.push(reader);
    }
    drop(held);
    let (_, clean, log) = tight.terminate(Duration::from_secs(15)).await;
    assert!(clean, "{log}");
    assert!(log.contains("serving at most 88 connections"), "{log}");
}

#[tokio::test]
async fn a_client_that_never_reads_its_answers_is_closed_within_the_write_timeout() {
    let app = spawn_with(|c| {
        c.write_timeout_ms = 1_000;
        c.max_connections_per_address = 1;
    })
    .await;
    // A client that pipelines requests for a large answer and reads none:
    // hyper reads no further request while an answer waits to be written,
    // so only a write deadline can close it.
    let socket = TcpSocket::new_v4().expect("socket");
    socket
        .set_recv_buffer_size(4096)
        .expect("small receive buffer");
    let mut hog = socket.connect(app.addr).await.expect("connect");
    let request = format!(
        "GET /api/openapi.json HTTP/1.1\r\nHost: {}\r\n\r\n",
        app.addr
    );
    let pipelined = request.repeat(2_000);
    let writing = tokio::spawn(async move {
        // Ends when the gateway closes the connection (or has read it all).
        let _ = hog.write_all(pipelined.as_bytes()).await;
        hog
    });

    // The address's one connection is the hog's until the gateway closes it.
    until("the address to be served again", || async {
        let (status, _) = exchange(
            connect_from(&app, "127.0.0.1").await,
            &get("/api/services", &app.addr.to_string(), ""),
        )
        .await;
        (status == 200).then_some(())
    })
    .await;
    drop(writing);
}
