//! An RTSP client connection: request/response with CSeq matching,
//! authentication retries, Session tracking and answers to requests the
//! server sends us. Used by both elements.

use std::time::Duration;

use bytes::Bytes;
use rtspclient_protocol::auth::Credentials;
use rtspclient_protocol::auth_flow::{AuthAttempt, AuthStep, ClientAuth};
use rtspclient_protocol::headers::SessionHeader;
use rtspclient_protocol::message::{Headers, Message, Request, Response, Version};
use rtspclient_protocol::methods::MethodSupport;
use rtspclient_protocol::url::{RtspUrl, control_retry_status, control_urls};

use super::answers::{AnsweredCseqs, not_authorized, session_of};
use super::connection::{Connection, Security};
use super::error::{ClientError, ErrorKind};
use super::http_proxy::HttpProxy;
use super::http_tunnel::TunnelOptions;
use super::in_flight::{InFlight, InFlightRequests};
use super::server_requests::answer_server_request;
use super::tls::TlsOptions;
use super::writer::Writer;

mod pipelined;
use pipelined::SentAhead;
pub use pipelined::SentRequest;

/// Settings shared by all requests of one client.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    pub user_agent: String,
    /// Bound on connecting and on waiting for each response.
    pub timeout: Duration,
    /// Added to every request (the elements' `extra-http-request-headers`).
    pub extra_headers: Vec<(String, String)>,
    /// Certificate checks and client certificate for TLS schemes.
    pub tls: TlsOptions,
    /// The HTTP proxy for tunnelled schemes (`rtsph://`, `rtspsh://`).
    pub http_proxy: Option<HttpProxy>,
    /// The RTSP version requests start with (the elements'
    /// `default-rtsp-version`); see [`RtspClient::fall_back_to_1_0`].
    pub version: Version,
}

/// Something that arrived while no response was awaited, or between requests.
#[derive(Debug)]
pub enum Incoming {
    /// Interleaved RTP/RTCP (RFC 2326 10.12).
    Data { channel: u8, payload: Bytes },
    /// A request from the server; it has been answered already.
    ServerRequest(Request),
    /// The final answer to a request sent with [`RtspClient::send_only`];
    /// `id` is what that returned (the answer's own CSeq differs when the
    /// request had to be sent again to authenticate).
    Answer { id: u32, response: Response },
    /// A response nobody waits for.
    Response(Response),
}

pub struct RtspClient {
    conn: Connection,
    url: RtspUrl,
    auth: ClientAuth,
    /// Requests sent with [`RtspClient::send_only`] awaiting their answer.
    in_flight: InFlightRequests,
    cseq: u32,
    session: Option<SessionHeader>,
    methods: MethodSupport,
    /// CSeqs of the latest answers taken, so a second answer to one of
    /// them is recognised.
    answered: AnsweredCseqs,
    /// Pipelined requests not answered yet, and answers that came before
    /// the one awaited.
    ahead: SentAhead,
    /// A message taken out of the framer by [`RtspClient::next_buffered_data`]
    /// that was not data; the next read returns it first.
    stashed: Option<Result<Message, ClientError>>,
    /// The version of the requests sent (RFC 7826 §4.1).
    version: Version,
    config: ClientConfig,
}

impl RtspClient {
    /// Connect to the server named by `url`.
    pub async fn connect(
        url: RtspUrl,
        credentials: Option<Credentials>,
        config: ClientConfig,
    ) -> Result<RtspClient, ClientError> {
        let tunnel = TunnelOptions {
            user_agent: &config.user_agent,
            proxy: config.http_proxy.as_ref(),
            tls: &config.tls,
            timeout: config.timeout,
        };
        let security = Security::for_url(&url, tunnel);
        let conn = Connection::connect_with(&url.host_port(), security, config.timeout).await?;
        Ok(RtspClient {
            conn,
            url,
            auth: ClientAuth::new(credentials),
            in_flight: InFlightRequests::default(),
            cseq: 0,
            session: None,
            methods: MethodSupport::default(),
            answered: AnsweredCseqs::default(),
            ahead: SentAhead::default(),
            stashed: None,
            version: config.version,
            config,
        })
    }

    pub fn url(&self) -> &RtspUrl {
        &self.url
    }

    pub fn writer(&self) -> Writer {
        self.conn.writer()
    }

    pub fn connection(&self) -> &Connection {
        &self.conn
    }

    /// The RTSP version this connection speaks.
    pub fn version(&self) -> Version {
        self.version
    }

    /// The server does not speak 2.0 (RFC 7826 §17.5.6, 505 to the first
    /// request): the session goes on in RTSP/1.0.
    pub fn fall_back_to_1_0(&mut self) {
        self.version = Version::Rtsp10;
    }

    /// CSeq of the last request sent.
    pub fn cseq(&self) -> u32 {
        self.cseq
    }

    pub fn session(&self) -> Option<&SessionHeader> {
        self.session.as_ref()
    }

    pub fn config(&self) -> &ClientConfig {
        &self.config
    }

    /// What the server's `Public:` lists and what it refused since.
    pub fn methods(&self) -> &MethodSupport {
        &self.methods
    }

    pub fn methods_mut(&mut self) -> &mut MethodSupport {
        &mut self.methods
    }

    /// Build a request with CSeq, User-Agent, Session and Authorization.
    fn build_request(
        &mut self,
        method: &str,
        uri: &str,
        headers: &Headers,
        body: &[u8],
        attempt: &mut AuthAttempt,
    ) -> Request {
        self.cseq = self.cseq.wrapping_add(1);
        let mut request = Request::new(method, uri);
        request.version = self.version;
        request.headers.set("CSeq", self.cseq.to_string());
        request
            .headers
            .set("User-Agent", self.config.user_agent.clone());
        for (name, value) in &self.config.extra_headers {
            request.headers.append(name, value.clone());
        }
        // The caller's headers replace the defaults of the same name; a
        // name the caller repeats stays repeated (one `Require` per
        // feature tag: gst-rtsp-server compares each header whole).
        let mut replaced: Vec<&str> = Vec::new();
        for (name, value) in headers.iter() {
            if !replaced.iter().any(|n| n.eq_ignore_ascii_case(name)) {
                request.headers.remove(name);
                replaced.push(name);
            }
            request.headers.append(name, value);
        }
        if let Some(session) = &self.session
            && request.headers.get("Session").is_none()
        {
            request.headers.set("Session", session.id.clone());
        }
        if let Some(authorization) = self.auth.authorize(method, uri, attempt) {
            request.headers.set("Authorization", authorization);
        }
        request.body = body.to_vec();
        request
    }

    /// Send a request and wait for its response, handing everything else
    /// that arrives meanwhile to `on_incoming`. Answers 401 by authenticating
    /// (bounded, see [`ClientAuth`] and `MAX_SENDS`). Non-success statuses are returned as
    /// `Ok`: the caller decides (3xx redirects, 461 transport fallback).
    pub async fn request(
        &mut self,
        method: &str,
        uri: &str,
        headers: &Headers,
        body: &[u8],
        on_incoming: &mut (dyn FnMut(Incoming) + Send),
    ) -> Result<Response, ClientError> {
        let mut attempt = AuthAttempt::default();
        // Ends: ClientAuth refuses a retry after MAX_SENDS sends.
        loop {
            let request = self.build_request(method, uri, headers, body, &mut attempt);
            let cseq = self.cseq;
            self.send_request(&request).await?;
            let response = self.wait_response(method, cseq, on_incoming).await?;
            let challenges = response.headers.get_all("WWW-Authenticate");
            match self
                .auth
                .on_response(response.status, challenges, &mut attempt)
            {
                AuthStep::Done => {
                    self.check_version(&response, method, cseq)?;
                    self.note_session(&response);
                    return Ok(response);
                }
                AuthStep::Retry => {}
                AuthStep::Fail(failure) => {
                    return Err(not_authorized(&response, failure).with_request(method, cseq));
                }
            }
        }
    }

    /// SETUP of the stream whose `a=control` is `control` under `base`.
    /// Servers disagree on how controls join the base (docs/QUIRKS.md,
    /// "Control joins"): the join [`control_urls`] gives first is tried,
    /// and the other at once when the server refuses the first with an
    /// error status. Returns the URL used and its answer (the first one's
    /// when both are refused).
    pub async fn setup(
        &mut self,
        base: &str,
        control: &str,
        headers: &Headers,
    ) -> Result<(String, Response), ClientError> {
        let (first, alternative) = control_urls(base, control);
        let response = self
            .request("SETUP", &first, headers, &[], &mut |_| {})
            .await?;
        if control_retry_status(response.status)
            && let Some(alternative) = alternative
        {
            let retry = self
                .request("SETUP", &alternative, headers, &[], &mut |_| {})
                .await?;
            if retry.is_success() {
                return Ok((alternative, retry));
            }
        }
        Ok((first, response))
    }

    /// Send a request without waiting; returns its id. Used for keep-alives
    /// and parameter requests, whose answers arrive as [`Incoming::Answer`]
    /// with that id; a 401 is answered meanwhile by sending the request
    /// again with renewed credentials (once, as [`RtspClient::request`]).
    pub async fn send_only(
        &mut self,
        method: &str,
        uri: &str,
        headers: &Headers,
    ) -> Result<u32, ClientError> {
        self.send_only_with_body(method, uri, headers, &[]).await
    }

    /// [`RtspClient::send_only`] with a body (GET/SET_PARAMETER).
    pub async fn send_only_with_body(
        &mut self,
        method: &str,
        uri: &str,
        headers: &Headers,
        body: &[u8],
    ) -> Result<u32, ClientError> {
        let mut attempt = AuthAttempt::default();
        let request = self.build_request(method, uri, headers, body, &mut attempt);
        self.send_request(&request).await?;
        self.in_flight.track(InFlight {
            id: self.cseq,
            cseq: self.cseq,
            method: method.to_string(),
            uri: uri.to_string(),
            headers: headers.clone(),
            body: body.to_vec(),
            attempt,
        });
        Ok(self.cseq)
    }

    /// The answer to a request sent with [`RtspClient::send_only`]: `None`
    /// when it was a 401 and the request went out again.
    async fn on_answer(&mut self, mut flight: InFlight, response: Response) -> Option<Incoming> {
        let challenges = response.headers.get_all("WWW-Authenticate");
        match self
            .auth
            .on_response(response.status, challenges, &mut flight.attempt)
        {
            AuthStep::Retry => {
                let request = self.build_request(
                    &flight.method,
                    &flight.uri,
                    &flight.headers,
                    &flight.body,
                    &mut flight.attempt,
                );
                // Tracked under its new CSeq before the send, which may wait.
                flight.cseq = self.cseq;
                self.in_flight.track(flight);
                // A failed send shows up as a closed connection on the next read.
                let _ = self.send_request(&request).await;
                None
            }
            step => {
                if step == AuthStep::Done {
                    self.note_session(&response);
                }
                Some(Incoming::Answer {
                    id: flight.id,
                    response,
                })
            }
        }
    }

    /// RFC 7826 §4.1: a 2.0 server answers in 2.0. An `RTSP/1.0` answer
    /// in a 2.0 session is accepted only to OPTIONS, the request the
    /// version is settled with (see `session::link`); anywhere else the
    /// peer is not the server the session was negotiated with. A 1.0
    /// session keeps reading any version, as it always did.
    fn check_version(
        &self,
        response: &Response,
        method: &str,
        cseq: u32,
    ) -> Result<(), ClientError> {
        if self.version == Version::Rtsp20
            && response.version != Version::Rtsp20
            && !method.eq_ignore_ascii_case("OPTIONS")
        {
            return Err(ClientError::new(
                ErrorKind::Protocol,
                format!(
                    "The server answered {} to an RTSP/2.0 request",
                    response.version
                ),
            )
            .with_request(method, cseq));
        }
        Ok(())
    }

    async fn send_request(&mut self, request: &Request) -> Result<(), ClientError> {
        let bytes = Bytes::from(request.serialize());
        let writer = self.conn.writer();
        let send = writer.send(bytes);
        match tokio::time::timeout(self.config.timeout, send).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(_)) => Err(ClientError::new(
                ErrorKind::Closed,
                "The server closed the connection",
            )
            .with_request(&request.method, self.cseq)),
            Err(_) => Err(ClientError::new(
                ErrorKind::Timeout,
                "Could not send the request in time",
            )
            .with_request(&request.method, self.cseq)),
        }
    }

    async fn wait_response(
        &mut self,
        method: &str,
        cseq: u32,
        on_incoming: &mut (dyn FnMut(Incoming) + Send),
    ) -> Result<Response, ClientError> {
        self.conn.expect_answer(true);
        let result = self.wait_answer(cseq, on_incoming).await;
        self.conn.expect_answer(false);
        if result
            .as_ref()
            .is_err_and(|err| err.kind == ErrorKind::Timeout)
        {
            self.answered.abandon(cseq);
        }
        let response = result.map_err(|err| err.with_request(method, cseq))?;
        self.answered.note(cseq);
        Ok(response)
    }

    async fn wait_answer(
        &mut self,
        cseq: u32,
        on_incoming: &mut (dyn FnMut(Incoming) + Send),
    ) -> Result<Response, ClientError> {
        let deadline = tokio::time::Instant::now() + self.config.timeout;
        loop {
            let message = match tokio::time::timeout_at(deadline, self.read_message()).await {
                Err(_) => {
                    return Err(ClientError::new(
                        ErrorKind::Timeout,
                        format!("No response within {:?}", self.config.timeout),
                    ));
                }
                Ok(result) => result?,
            };
            match message {
                Message::Response(response) => match response.headers.cseq() {
                    Some(got) if got == cseq => return Ok(response),
                    // Some cameras omit CSeq (docs/QUIRKS.md, "CSeq"): the
                    // answer is taken for the awaited request. Right when
                    // the server answers in order and nothing else is
                    // outstanding; a keep-alive in flight, a pipelined
                    // request or one given up on would be mistaken for it,
                    // and no header tells them apart.
                    None => return Ok(response),
                    // A pipelined request's answer before the awaited
                    // one's (RFC 7826 §18.33 does not order them): kept
                    // for when it is asked for.
                    Some(got) if self.ahead.is_pending(got) => self.ahead.keep(response),
                    // Late: dropped (see `AnsweredCseqs::abandon`).
                    Some(got) if self.answered.is_abandoned(got) => {}
                    Some(got) => {
                        self.answered.check_stray_cseq(got, cseq, &self.in_flight)?;
                        if let Some(incoming) = self.dispatch(Message::Response(response)).await {
                            on_incoming(incoming);
                        }
                    }
                },
                other => {
                    if let Some(incoming) = self.dispatch(other).await {
                        on_incoming(incoming);
                    }
                }
            }
        }
    }

    /// Next message when no request is outstanding (the playing loop).
    /// Server requests are answered before they are returned. Cancel-safe.
    pub async fn next_incoming(&mut self) -> Result<Incoming, ClientError> {
        loop {
            let message = self.read_message().await?;
            if let Some(incoming) = self.dispatch(message).await {
                return Ok(incoming);
            }
        }
    }

    /// Interleaved data that has already arrived and been framed, without
    /// waiting: lets the playing loop hand a whole socket read to GStreamer
    /// as one buffer list. Anything else stays for the next read.
    pub fn next_buffered_data(&mut self) -> Option<(u8, Bytes)> {
        if self.stashed.is_some() {
            return None;
        }
        match self.conn.try_buffered_message() {
            Ok(Some(Message::Data { channel, payload })) => Some((channel, payload)),
            Ok(None) => None,
            other => {
                self.stashed = other.transpose();
                None
            }
        }
    }

    async fn read_message(&mut self) -> Result<Message, ClientError> {
        match self.stashed.take() {
            Some(message) => message,
            None => self.conn.read_message().await,
        }
    }

    async fn dispatch(&mut self, message: Message) -> Option<Incoming> {
        match message {
            Message::Data { channel, payload } => Some(Incoming::Data { channel, payload }),
            Message::Response(response) => {
                if let Some(flight) = self.in_flight.take(response.headers.cseq()) {
                    self.answered.note(flight.cseq);
                    return self.on_answer(flight, response).await;
                }
                // Not adopting its `Session`: an answer to another request
                // (a late one, a stray session's TEARDOWN) may name a
                // session that is not, or no longer, ours.
                Some(Incoming::Response(response))
            }
            Message::Request(request) => {
                let mut answer = answer_server_request(&request, &self.config.user_agent);
                // RFC 7826 §4.1: answered in the version asked.
                answer.version = request.version;
                // A failed answer shows up as a closed connection on the next read.
                let _ = self
                    .conn
                    .writer()
                    .send(Bytes::from(answer.serialize()))
                    .await;
                Some(Incoming::ServerRequest(request))
            }
        }
    }

    fn note_session(&mut self, response: &Response) {
        // Session ids may change between SETUPs of one presentation
        // (docs/QUIRKS.md, "Session id changes"): the latest one wins.
        if let Some(mut session) = session_of(response) {
            // Servers usually announce the timeout in SETUP only and repeat
            // the bare id later: keep what we learnt for the same session.
            if let Some(previous) = &self.session
                && previous.id == session.id
                && session.timeout_secs.is_none()
            {
                session.timeout_secs = previous.timeout_secs;
            }
            self.session = Some(session);
        }
    }
}
