//! One connection to one broker: TCP, then TLS and SASL as configured,
//! then ApiVersions, after which each request is sent at the highest
//! version both sides know. One request at a time, each with a deadline.

use std::collections::HashMap;
use std::time::Duration;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::error::ParseResponseErrorCode;
use kafka_protocol::messages::{
    ApiVersionsRequest, RequestHeader, ResponseHeader, SaslAuthenticateRequest,
    SaslHandshakeRequest,
};
use kafka_protocol::protocol::{Decodable, Encodable, HeaderVersion, Request, StrBytes};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

use super::ProtocolError;
use super::scram::Scram;
use super::security::{Mechanism, Security};

const CLIENT_ID: &str = "kafka-flow-gateway";
/// How long connecting (TCP, TLS, SASL, ApiVersions) may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long one request may wait for its response.
pub(super) const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// The largest response read: describing groups and the quorum is small;
/// a length beyond this is a broken or hostile peer, not an answer.
const MAX_RESPONSE: usize = 16 << 20;

trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

pub(super) struct Conn {
    io: Box<dyn Io>,
    /// The broker's version range per API key.
    versions: HashMap<i16, (i16, i16)>,
    correlation: i32,
    /// A request was sent and its whole response not read: its exchange was
    /// cut (a deadline), and what is left on the wire is not ours to read.
    midway: bool,
}

impl Conn {
    /// Connects to `host:port` and gets it ready for requests.
    pub(super) async fn open(
        host: &str,
        port: u16,
        security: &Security,
    ) -> Result<Self, ProtocolError> {
        tokio::time::timeout(CONNECT_TIMEOUT, Self::open_now(host, port, security))
            .await
            .map_err(|_| ProtocolError::Timeout(format!("connecting to {host}:{port}")))?
    }

    async fn open_now(host: &str, port: u16, security: &Security) -> Result<Self, ProtocolError> {
        let tcp = TcpStream::connect((host, port))
            .await
            .map_err(|err| ProtocolError::Io(format!("{host}:{port}: {err}")))?;
        tcp.set_nodelay(true).ok();
        let io: Box<dyn Io> = match &security.tls {
            None => Box::new(tcp),
            Some(tls) => Box::new(
                tls.connector
                    .connect(host, tcp)
                    .await
                    .map_err(|err| ProtocolError::Tls(format!("{host}:{port}: {err}")))?,
            ),
        };
        let mut conn = Self {
            io,
            versions: HashMap::new(),
            correlation: 0,
            midway: false,
        };
        if let Some(sasl) = &security.sasl {
            conn.authenticate(sasl.mechanism, &sasl.username, &sasl.password)
                .await?;
        }
        let request = ApiVersionsRequest::default()
            .with_client_software_name(StrBytes::from_static_str(CLIENT_ID))
            .with_client_software_version(StrBytes::from_static_str(env!("CARGO_PKG_VERSION")));
        let answer = conn.exchange(&request, 3).await?;
        if let Some(err) = answer.error_code.err() {
            return Err(ProtocolError::Kafka {
                api: "ApiVersions",
                error: err.to_string(),
            });
        }
        conn.versions = answer
            .api_keys
            .iter()
            .map(|k| (k.api_key, (k.min_version, k.max_version)))
            .collect();
        Ok(conn)
    }

    /// SASL before anything else (KIP-43 order: handshake, then each
    /// token in a SaslAuthenticate request).
    async fn authenticate(
        &mut self,
        mechanism: Mechanism,
        user: &str,
        password: &str,
    ) -> Result<(), ProtocolError> {
        let handshake = SaslHandshakeRequest::default()
            .with_mechanism(StrBytes::from_static_str(mechanism.name()));
        let answer = self.exchange(&handshake, 1).await?;
        if answer.error_code.err().is_some() {
            let offered: Vec<&str> = answer.mechanisms.iter().map(|m| m.as_str()).collect();
            return Err(ProtocolError::Auth(format!(
                "the broker does not offer SASL {} (it offers {})",
                mechanism.name(),
                offered.join(", ")
            )));
        }
        match mechanism {
            Mechanism::Plain => {
                let token = format!("\0{user}\0{password}");
                self.sasl_token(token.into_bytes()).await?;
            }
            Mechanism::Scram(hash) => {
                let mut scram = Scram::new(hash, user, password);
                let server_first = self.sasl_token(scram.first().into_bytes()).await?;
                let answer = scram.answer(&server_first).map_err(ProtocolError::Auth)?;
                let server_final = self.sasl_token(answer.into_bytes()).await?;
                scram.verify(&server_final).map_err(ProtocolError::Auth)?;
            }
        }
        Ok(())
    }

    async fn sasl_token(&mut self, token: Vec<u8>) -> Result<Bytes, ProtocolError> {
        let request = SaslAuthenticateRequest::default().with_auth_bytes(Bytes::from(token));
        let answer = self.exchange(&request, 2).await?;
        if let Some(err) = answer.error_code.err() {
            // The broker's message says why (e.g. "Authentication failed:
            // Invalid username or password"); it never holds the password.
            let why = answer.error_message.map(|m| m.to_string());
            return Err(ProtocolError::Auth(why.unwrap_or_else(|| err.to_string())));
        }
        Ok(answer.auth_bytes)
    }

    /// Whether the connection can take a request: no earlier exchange was
    /// cut halfway.
    pub(super) fn usable(&self) -> bool {
        !self.midway
    }

    fn version<R: Request>(&self) -> Option<i16> {
        let (min, max) = *self.versions.get(&R::KEY)?;
        let version = max.min(R::VERSIONS.max);
        (version >= min.max(R::VERSIONS.min)).then_some(version)
    }

    /// Sends `request` at the highest version both sides know.
    pub(super) async fn send<R: Request>(
        &mut self,
        request: &R,
    ) -> Result<R::Response, ProtocolError> {
        let version = self.version::<R>().ok_or_else(|| {
            ProtocolError::Unsupported(format!(
                "the broker does not speak API {} at a version this client knows",
                R::KEY
            ))
        })?;
        self.exchange(request, version).await
    }

    async fn exchange<R: Request>(
        &mut self,
        request: &R,
        version: i16,
    ) -> Result<R::Response, ProtocolError> {
        tokio::time::timeout(REQUEST_TIMEOUT, self.exchange_now(request, version))
            .await
            .map_err(|_| ProtocolError::Timeout(format!("API {} request", R::KEY)))?
    }

    async fn exchange_now<R: Request>(
        &mut self,
        request: &R,
        version: i16,
    ) -> Result<R::Response, ProtocolError> {
        if self.midway {
            return Err(ProtocolError::Io(
                "an earlier request was cut halfway".into(),
            ));
        }
        self.correlation = self.correlation.wrapping_add(1);
        let correlation = self.correlation;
        let header = RequestHeader::default()
            .with_request_api_key(R::KEY)
            .with_request_api_version(version)
            .with_correlation_id(correlation)
            .with_client_id(Some(StrBytes::from_static_str(CLIENT_ID)));
        let mut frame = BytesMut::new();
        frame.put_i32(0);
        header
            .encode(&mut frame, R::header_version(version))
            .and_then(|()| request.encode(&mut frame, version))
            .map_err(|err| ProtocolError::Decode(format!("encoding API {}: {err}", R::KEY)))?;
        let length = i32::try_from(frame.len() - 4).unwrap_or(i32::MAX);
        frame[..4].copy_from_slice(&length.to_be_bytes());
        let io_error = |err: std::io::Error| ProtocolError::Io(err.to_string());
        self.midway = true;
        self.io.write_all(&frame).await.map_err(io_error)?;
        self.io.flush().await.map_err(io_error)?;

        let length = self.io.read_i32().await.map_err(io_error)?;
        let length = usize::try_from(length)
            .ok()
            .filter(|l| *l <= MAX_RESPONSE)
            .ok_or_else(|| ProtocolError::Decode(format!("a response of {length} bytes")))?;
        let mut body = vec![0; length];
        self.io.read_exact(&mut body).await.map_err(io_error)?;
        self.midway = false;
        let mut body = Bytes::from(body);
        let decode = |err: anyhow::Error| ProtocolError::Decode(format!("API {}: {err}", R::KEY));
        let header = ResponseHeader::decode(&mut body, R::Response::header_version(version))
            .map_err(decode)?;
        if header.correlation_id != correlation {
            return Err(ProtocolError::Decode(format!(
                "response {} to request {correlation}",
                header.correlation_id
            )));
        }
        let response = R::Response::decode(&mut body, version).map_err(decode)?;
        if body.has_remaining() {
            tracing::debug!(
                api = R::KEY,
                left = body.remaining(),
                "bytes after a response"
            );
        }
        Ok(response)
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    use super::*;

    /// A "broker" that answers the first request with `body` after the
    /// request's correlation id.
    async fn broker_answering(body: &'static [u8]) -> u16 {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("addr").port();
        tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.expect("accept");
            let length = socket.read_i32().await.expect("length");
            let mut request = vec![0; usize::try_from(length).expect("length")];
            socket.read_exact(&mut request).await.expect("request");
            let correlation = &request[4..8];
            let mut frame = Vec::new();
            frame.extend(i32::try_from(4 + body.len()).expect("small").to_be_bytes());
            frame.extend(correlation);
            frame.extend(body);
            socket.write_all(&frame).await.expect("answer");
            // Hold the connection open: the client must not wait on it.
            let _ = socket.read_i32().await;
        });
        port
    }

    #[tokio::test]
    async fn a_response_claiming_billions_of_items_is_an_error_not_an_abort() {
        // ApiVersions v3: error 0, then an api_keys count of 2^32 - 2 in
        // five bytes, and nothing after.
        let port = broker_answering(&[0, 0, 0xff, 0xff, 0xff, 0xff, 0x0f]).await;
        let answer = Conn::open("127.0.0.1", port, &Security::default()).await;
        assert!(
            matches!(answer, Err(ProtocolError::Decode(_))),
            "{:?}",
            answer.err()
        );
    }

    #[tokio::test]
    async fn a_response_to_another_request_is_refused() {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("addr").port();
        tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.expect("accept");
            let _ = socket.read_i32().await;
            // Correlation id 77, not the request's.
            socket
                .write_all(&[0, 0, 0, 6, 0, 0, 0, 77, 0, 0])
                .await
                .expect("answer");
            let _ = socket.read_i32().await;
        });
        let answer = Conn::open("127.0.0.1", port, &Security::default()).await;
        assert!(
            matches!(answer, Err(ProtocolError::Decode(_))),
            "{:?}",
            answer.err()
        );
    }
}
