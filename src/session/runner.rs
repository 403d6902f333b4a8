//! The outer loop of a session, the same for both elements: connect, let
//! the element's [`Role`] run one session on the connection, then follow
//! a redirect, restart over other transports, reconnect after a loss with
//! backoff, or end.

use std::future::Future;
use std::time::Instant;

use std::sync::Arc;

use tokio::sync::watch;

use super::link::{Events, Link};
use super::reconnect::{backoff, next_attempt};
use super::{Protocol, SessionConfig};
use crate::driver::error::ClientError;

/// How one session on one connection ended without an error.
pub enum Ended<T> {
    /// The element's work is done (EOS, the server ended the session).
    Done(T),
    /// A 3xx answer or a REDIRECT request: start again at this URL.
    Redirect(String),
    /// Start again over these lower transports (UDP brought nothing).
    Restart(Vec<Protocol>),
}

/// What an element does with a connected, OPTIONS-checked link: its
/// requests (DESCRIBE, SETUP, PLAY or ANNOUNCE, SETUP, RECORD) and the loop
/// that moves the media, until the session ends. It calls
/// [`Link::established`] once the session plays or records.
pub trait Role: Send {
    type Done: Send;

    fn run_session(
        &mut self,
        link: &mut Link,
        protocols: &[Protocol],
    ) -> impl Future<Output = Result<Ended<Self::Done>, ClientError>> + Send;

    /// The session was lost and is being recovered: stop using it (the
    /// link is closed after this).
    fn session_lost(&mut self) {}
}

/// Run `role`'s sessions with `config` until one ends the element's work
/// (`Ok(Some)`), fails for good (`Err`) or `stop` is set (`Ok(None)`);
/// whatever session is left is closed with a bounded TEARDOWN.
pub async fn run_until_stopped<R: Role>(
    role: &mut R,
    config: SessionConfig,
    events: Arc<dyn Events>,
    stop: &mut watch::Receiver<bool>,
) -> Result<Option<R::Done>, ClientError> {
    let mut link = Link::new(config, events);
    let result = tokio::select! {
        result = run(role, &mut link) => result.map(Some),
        _ = stop.wait_for(|stop| *stop) => Ok(None),
    };
    link.close().await;
    result
}

/// Run sessions until one ends the element's work or fails for good.
async fn run<R: Role>(role: &mut R, link: &mut Link) -> Result<R::Done, ClientError> {
    let mut protocols = link.config.protocols.clone();
    loop {
        let result = match link.open().await {
            Ok(Some(target)) => Ok(Ended::Redirect(target)),
            Ok(None) => role.run_session(link, &protocols).await,
            Err(err) => Err(err),
        };
        match result {
            Ok(Ended::Done(done)) => {
                link.close().await;
                return Ok(done);
            }
            Ok(Ended::Redirect(target)) => {
                link.close().await;
                link.follow_redirect(&target)?;
            }
            Ok(Ended::Restart(next)) => {
                link.close().await;
                protocols = next;
            }
            Err(err) => {
                let Some(outage) = next_attempt(
                    &link.config.reconnect,
                    link.established_once,
                    link.outage,
                    &err,
                    Instant::now(),
                ) else {
                    return Err(err);
                };
                role.session_lost();
                link.abandon().await;
                let delay = backoff(&link.config.reconnect, outage.attempts);
                gst::info!(
                    crate::session::CAT,
                    "Session lost ({err}); attempt {} in {delay:?}",
                    outage.attempts
                );
                link.events()
                    .reconnecting(&err.to_string(), outage.attempts, delay);
                link.outage = Some(outage);
                tokio::time::sleep(delay).await;
            }
        }
    }
}
