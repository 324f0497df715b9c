//! The one hand-off from the worker side to the event loops: snapshots are stamped once
//! (`epoch`, `seq`, frame: [`Sequencer`]) and every loop receives the same `Arc` bytes; statuses,
//! feed reports and liquidations reach every loop; a REST answer reaches the loop that asked.
//!
//! Whatever delivers snapshots to the process calls this type: the local producer through
//! [`SnapshotFanout::dispatch`], a bus (issue 15) with already stamped snapshots through
//! [`SnapshotFanout::deliver_stamped`].

use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use crossbeam_channel::Sender;
use log::warn;

use super::events::{LoopEvent, WorkerEvent};
use crate::core::{BusReport, MutationPolicy, NoMutations, Sequencer, SnapshotReady, StampedSnapshot};

/// A worker blocked this long on one loop's full channel drops the event for that loop (the
/// loop is not draining; its clients fill the hole from REST, see websocket_api.md).
pub const SEND_TIMEOUT: Duration = Duration::from_secs(1);

/// Wakes one loop's poller (a `mio::Waker` in production).
pub trait Wake: Send + Sync {
    fn wake(&self);
}

impl Wake for mio::Waker {
    fn wake(&self) {
        let _ = mio::Waker::wake(self);
    }
}

/// One loop's inbound side: its bounded channel and its waker.
pub struct LoopInbox {
    pub events: Sender<LoopEvent>,
    pub waker: Arc<dyn Wake>,
}

/// Hands worker results to every loop. See the module documentation. `M` is the simulator's
/// deliberate-bug policy for the stamping (production: [`NoMutations`], folded away).
pub struct SnapshotFanout<M: MutationPolicy = NoMutations> {
    loops: Vec<LoopInbox>,
    /// Held while a snapshot is stamped and handed to the loops, so every loop receives the
    /// snapshots of a symbol in `seq` order.
    sequencer: Mutex<Sequencer<M>>,
    /// `WS_COMPRESSION_MIN_BYTES` when compression is on (for whoever stamps elsewhere).
    deflate_min_bytes: Option<usize>,
    /// Set once when something in front of the loops stamps snapshots instead (the Redis bus,
    /// `REDIS_ENABLED=true`): computed snapshots go to it, unstamped; it hands back what to show
    /// through [`SnapshotFanout::deliver_stamped`].
    interceptor: OnceLock<SnapshotInterceptor>,
}

/// Takes the producer's snapshots instead of the fan-out's own [`Sequencer`]; must not block.
pub type SnapshotInterceptor = Box<dyn Fn(SnapshotReady) + Send + Sync>;

impl SnapshotFanout {
    /// A fan-out to `loops` whose epochs carry `boot_id`. `deflate_min_bytes`: also build the
    /// permessage-deflate frame of every snapshot at least this long (`None`: compression off,
    /// `WS_COMPRESSION=false`); see `Sequencer::with_deflate`.
    pub fn new(boot_id: String, deflate_min_bytes: Option<usize>, loops: Vec<LoopInbox>) -> SnapshotFanout {
        SnapshotFanout::with_mutations(boot_id, deflate_min_bytes, loops, NoMutations)
    }
}

impl<M: MutationPolicy> SnapshotFanout<M> {
    /// [`SnapshotFanout::new`] stamping with the simulator's deliberate bugs.
    pub fn with_mutations(boot_id: String, deflate_min_bytes: Option<usize>, loops: Vec<LoopInbox>, mutations: M) -> SnapshotFanout<M> {
        SnapshotFanout {
            loops,
            sequencer: Mutex::new(Sequencer::with_mutations(boot_id, mutations).with_deflate(deflate_min_bytes)),
            deflate_min_bytes,
            interceptor: OnceLock::new(),
        }
    }

    /// Sends every computed snapshot to `interceptor` from now on instead of stamping it here;
    /// false if one was set already (it stays). Set it before any producer runs (the Redis bus
    /// does, `BusHandle::intercept` in `src/app/serve.rs`), or a snapshot computed first is
    /// stamped under this fan-out's own epoch.
    pub fn set_interceptor(&self, interceptor: SnapshotInterceptor) -> bool {
        self.interceptor.set(interceptor).is_ok()
    }

    /// The minimum message length for a deflated frame (`None`: compression off).
    pub fn deflate_min_bytes(&self) -> Option<usize> {
        self.deflate_min_bytes
    }

    /// Gives the Redis bus's state to every loop (for `/health` and `/ws/stats`).
    pub fn report_bus(&self, report: BusReport) -> bool {
        self.broadcast(LoopEvent::Bus(report))
    }

    /// Number of loops served.
    pub fn loops(&self) -> usize {
        self.loops.len()
    }

    /// Routes one worker result; false if some loop could not take it.
    pub fn dispatch(&self, wall_unix_ms: i64, event: WorkerEvent) -> bool {
        match event {
            WorkerEvent::Snapshot(snapshot) => match self.interceptor.get() {
                Some(intercept) => {
                    intercept(snapshot);
                    true
                }
                None => self.publish(wall_unix_ms, &snapshot),
            },
            WorkerEvent::Status { symbol, status } => self.broadcast(LoopEvent::Status { symbol, status }),
            WorkerEvent::QueryDone { loop_index, conn, token, response } => {
                self.send_to(loop_index, LoopEvent::QueryDone { conn, token, response })
            }
            WorkerEvent::Feed(report) => self.broadcast(LoopEvent::Feed(report)),
            WorkerEvent::Liquidation { symbol, message_json } => {
                self.broadcast(LoopEvent::Liquidation { symbol, message_json })
            }
        }
    }

    /// Stamps `snapshot` once (its `sent_at_ms` is `wall_unix_ms`) and gives it to every loop.
    pub fn publish(&self, wall_unix_ms: i64, snapshot: &SnapshotReady) -> bool {
        let mut sequencer = self.sequencer.lock().unwrap_or_else(|e| e.into_inner());
        let stamped = sequencer.stamp(wall_unix_ms, snapshot);
        self.broadcast(LoopEvent::Snapshot(stamped))
    }

    /// Gives a snapshot stamped elsewhere (a bus's leader) to every loop, unchanged.
    pub fn deliver_stamped(&self, stamped: StampedSnapshot) -> bool {
        let _order = self.sequencer.lock().unwrap_or_else(|e| e.into_inner());
        self.broadcast(LoopEvent::Snapshot(stamped))
    }

    /// Gives `event` to every loop (cloning it shares the snapshot's bytes, it copies none).
    fn broadcast(&self, event: LoopEvent) -> bool {
        let mut all = true;
        for index in 0..self.loops.len() {
            all &= self.send_to(index, event.clone());
        }
        all
    }

    fn send_to(&self, index: usize, event: LoopEvent) -> bool {
        let Some(inbox) = self.loops.get(index) else {
            warn!("event=worker_send_dropped reason=no_such_loop loop={index}");
            return false;
        };
        match inbox.events.send_timeout(event, SEND_TIMEOUT) {
            Ok(()) => {
                inbox.waker.wake();
                true
            }
            Err(_) => {
                warn!("event=worker_send_dropped reason=loop_not_draining loop={index}");
                false
            }
        }
    }
}
