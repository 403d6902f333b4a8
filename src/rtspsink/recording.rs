//! The recording loop of one `rtspsink` session, after RECORD: server RTCP
//! into rtpbin, keep-alive, server requests, and the end once every stream
//! got EOS and rtpbin sent its RTCP BYE.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;

use super::imp::CAT;
use super::sender::{Control, Route, StreamSender};
use crate::driver::client::{Incoming, RtspClient};
use crate::driver::error::{ClientError, ErrorKind};
use crate::session::keep_alive::KeepAlive;

/// After the last RTP EOS, how long to wait for rtpbin's RTCP BYE.
const BYE_TIMEOUT: Duration = Duration::from_millis(500);

/// Record until every stream got EOS. Returns the EOS seqnum to post.
pub async fn record(
    client: &mut RtspClient,
    aggregate: &str,
    control: &Arc<Control>,
    streams: &[Arc<StreamSender>],
    keep_alive: bool,
) -> Result<Option<gst::Seqnum>, ClientError> {
    // A recording's server sends nothing that would show it hung: its
    // keep-alive answers have to.
    let answer_limit = client.config().timeout;
    let mut keep_alive = KeepAlive::new(client, keep_alive).require_answers(answer_limit);
    let mut bye_deadline: Option<tokio::time::Instant> = None;
    let mut warned_channels = [false; 256];
    let eos_seqnum = || streams.iter().find_map(|s| s.eos());

    loop {
        let all_eos = streams.iter().all(|s| s.eos().is_some());
        if all_eos {
            let all_bye = streams.iter().all(|s| s.rtcp_eos());
            let deadline =
                *bye_deadline.get_or_insert_with(|| tokio::time::Instant::now() + BYE_TIMEOUT);
            if all_bye || tokio::time::Instant::now() >= deadline {
                gst::debug!(
                    CAT,
                    "All streams ended ({}), tearing down",
                    if all_bye {
                        "BYE sent"
                    } else {
                        "no BYE in time"
                    }
                );
                return Ok(eos_seqnum());
            }
        } else {
            bye_deadline = None;
        }
        let bye_wait = async {
            match bye_deadline {
                Some(deadline) => tokio::time::sleep_until(deadline).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = control.changed.notified() => {}
            _ = bye_wait => {}
            incoming = client.next_incoming() => match incoming {
                Ok(Incoming::Data { channel, payload }) => {
                    if !route_rtcp(streams, channel, payload) && !warned_channels[channel as usize] {
                        warned_channels[channel as usize] = true;
                        gst::warning!(CAT, "Ignoring data on channel {channel} that was never set up");
                    }
                }
                Ok(Incoming::ServerRequest(request)) => {
                    if request.method.eq_ignore_ascii_case("TEARDOWN") {
                        return Err(ClientError::new(
                            ErrorKind::Closed,
                            "The server ended the recording session",
                        ));
                    }
                }
                Ok(Incoming::Answer { id, response }) => {
                    keep_alive.on_answer(client, id, &response)?;
                }
                Ok(Incoming::Response(_)) => {}
                // Every stream ended and we were only waiting for the
                // RTCP BYE to go out: a server that closes now has all
                // the data (ffmpeg's listen mode ends on BYE). rtpbin
                // sends a stream's BYE when EOS passes its session, and
                // that can reach ffmpeg before the same EOS reaches our
                // sender: BYE sent on every stream also means that all
                // their RTP was written before it.
                Err(_) if all_eos || streams.iter().all(|s| s.rtcp_eos()) => {
                    gst::debug!(CAT, "The server closed the connection after the end of all streams");
                    return Ok(eos_seqnum());
                }
                Err(err) => {
                    return Err(ClientError::new(
                        ErrorKind::Closed,
                        format!("Lost the connection to the server while publishing: {}", err.message),
                    ));
                }
            },
            due = keep_alive.due() => {
                due?;
                keep_alive.send(client, aggregate).await;
            }
        }
    }
}

/// Server RTCP on an interleaved channel into the stream's rtpbin session.
fn route_rtcp(streams: &[Arc<StreamSender>], channel: u8, payload: Bytes) -> bool {
    for stream in streams {
        if let Some(Route::Interleaved { rtp, rtcp, .. }) = stream.route() {
            if channel == rtcp {
                stream.push_rtcp(payload);
                return true;
            }
            if channel == rtp {
                // The server has nothing to send on the RTP channel.
                return true;
            }
        }
    }
    false
}
