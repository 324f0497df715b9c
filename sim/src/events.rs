//! The discrete-event queue: ordered by simulated time, then by the order events were scheduled,
//! so two events at the same instant always run in the same order.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

/// Index of a simulated connection (never reused, unlike the core's `ConnId`).
pub type ConnKey = usize;
/// Index of a simulated client (a client may open many connections over its life).
pub type ClientKey = usize;

/// What a client does next: open its connection, or act on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientStep {
    Connect,
    Act,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// The client's next scripted action.
    Client(ClientKey, ClientStep),
    /// The client application reads from its socket.
    ClientRead(ConnKey),
    /// Bytes the client sent reach the server's socket buffer.
    Arrive(ConnKey, Vec<u8>),
    /// The client's FIN reaches the server.
    ArriveFin(ConnKey),
    /// The client's RST reaches the server.
    ArriveReset(ConnKey),
    /// A readiness event from the (simulated) poller; `error` marks an error event.
    Ready {
        conn: ConnKey,
        readable: bool,
        writable: bool,
        error: bool,
    },
    /// The acceptor wakes: the listener has connections waiting, a loop freed a slot while it
    /// was paused, or its paused recheck is due.
    ListenerReady,
    /// The core of this loop asked to be called back about now.
    Timer(usize),
    /// This loop's next turn, for connections whose read turn ran out of budget.
    LoopTurn(usize),
    /// The producer's next snapshot of this symbol (index into the simulated symbol list).
    Publish(usize),
    /// The producer dies: no more snapshots until it restarts.
    ProducerDies,
    /// A REST answer from the query worker.
    QueryDone {
        /// The loop that asked (the answer returns to it).
        loop_index: usize,
        conn: ConnKey,
        token: u64,
        body_bytes: usize,
    },
    /// This loop's waker fired: it adopts the connections the acceptor handed it.
    LoopWake(usize),
    /// A hand-off held back (the loop's waker was late) reaches its loop.
    LoopDeliver(u64),
    /// A snapshot in flight on the simulated bus (by its number) reaches the node.
    BusArrive(u64),
    /// The node's history read of this symbol (index) is answered.
    BusHistory(usize),
    /// The node's bus subscription is back after a cut.
    BusResubscribe,
    /// A clock fault.
    ClockFault,
    /// Faults stop; clients turn well-behaved.
    QuietBegins,
    /// Every open WebSocket client re-sends its subscriptions.
    Resync,
    /// The restarted producer publishes one last snapshot of every symbol.
    FinalPublish,
    /// Liveness is judged.
    LivenessCheck,
    /// SIGTERM.
    Shutdown,
    /// The shutdown timeout has passed.
    ShutdownCheck,
    /// The run ends.
    End,
}

#[derive(Debug, Default)]
pub struct EventQueue {
    heap: BinaryHeap<Reverse<(u64, u64, usize)>>,
    /// Events by their scheduling number's slot; the heap holds indexes so events need no `Ord`.
    slots: Vec<Option<Event>>,
    free: Vec<usize>,
    next_seq: u64,
}

impl EventQueue {
    pub fn push(&mut self, at_ns: u64, event: Event) {
        let slot = match self.free.pop() {
            Some(slot) => {
                self.slots[slot] = Some(event);
                slot
            }
            None => {
                self.slots.push(Some(event));
                self.slots.len() - 1
            }
        };
        self.heap.push(Reverse((at_ns, self.next_seq, slot)));
        self.next_seq += 1;
    }

    pub fn pop(&mut self) -> Option<(u64, Event)> {
        let Reverse((at, _, slot)) = self.heap.pop()?;
        let event = self.slots[slot].take()?;
        self.free.push(slot);
        Some((at, event))
    }

    pub fn len(&self) -> usize {
        self.heap.len()
    }

    pub fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }
}
