//! Supervision with real threads and a real mio waker.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mio::{Events, Poll, Token, Waker};

use crossbeam_channel::{bounded, Receiver};

use super::{ProducerSpawn, Workers};
use crate::core::ProducerStatus;
use crate::driver::{LoopEvent, LoopInbox, SnapshotFanout, WorkerEvent};

/// A fan-out to one loop: its poller (with the waker at token 0) and its event channel.
fn one_loop() -> (Poll, Arc<SnapshotFanout>, Receiver<LoopEvent>) {
    let poll = Poll::new().unwrap();
    let waker = Arc::new(Waker::new(poll.registry(), Token(0)).unwrap());
    let (tx, rx) = bounded(16);
    let fanout = Arc::new(SnapshotFanout::new("t".into(), None, vec![LoopInbox { events: tx, waker }]));
    (poll, fanout, rx)
}

#[test]
fn a_producer_that_dies_is_restarted_with_the_current_demand() {
    let (_poll, fanout, events) = one_loop();
    let starts = Arc::new(AtomicUsize::new(0));
    let seen = Arc::clone(&starts);
    let spawn: ProducerSpawn = Box::new(move |ctx, _demand, initial| {
        let run = seen.fetch_add(1, Ordering::SeqCst);
        std::thread::Builder::new().spawn(move || {
            if run == 0 {
                panic!("first producer dies on purpose");
            }
            for symbol in initial {
                ctx.send(WorkerEvent::Status { symbol, status: ProducerStatus::NoData });
            }
        })
    });
    let mut workers = Workers::start(fanout, Some(spawn), None).unwrap();
    workers.link(0).set_demand(vec!["BTCUSDT".into()]);
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut restarted_with = None;
    while Instant::now() < deadline && restarted_with.is_none() {
        workers.supervise();
        while let Ok(event) = events.try_recv() {
            if let LoopEvent::Status { symbol, .. } = event {
                restarted_with = Some(symbol);
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(starts.load(Ordering::SeqCst), 2, "started once, restarted once");
    assert_eq!(restarted_with.as_deref(), Some("BTCUSDT"));
    workers.stop();
}

#[test]
fn a_result_from_a_worker_wakes_the_loop() {
    let (mut poll, fanout, loop_events) = one_loop();
    let spawn: ProducerSpawn = Box::new(move |ctx, _demand, _initial| {
        std::thread::Builder::new().spawn(move || {
            ctx.send(WorkerEvent::Status { symbol: "BTCUSDT".into(), status: ProducerStatus::NoData });
        })
    });
    let mut workers = Workers::start(fanout, Some(spawn), None).unwrap();
    let mut events = Events::with_capacity(4);
    poll.poll(&mut events, Some(Duration::from_secs(10))).unwrap();
    assert!(events.iter().any(|e| e.token() == Token(0)), "the waker fired");
    assert!(matches!(loop_events.try_recv(), Ok(LoopEvent::Status { .. })));
    workers.stop();
}

#[test]
fn the_producer_is_told_the_union_of_every_loops_demand() {
    let poll = Poll::new().unwrap();
    let mut inboxes = Vec::new();
    for token in 0..2 {
        let waker = Arc::new(Waker::new(poll.registry(), Token(token)).unwrap());
        inboxes.push(LoopInbox { events: bounded(4).0, waker });
    }
    let fanout = Arc::new(SnapshotFanout::new("t".into(), None, inboxes));
    let (told_tx, told_rx) = bounded(16);
    let spawn: ProducerSpawn = Box::new(move |_ctx, demand, _initial| {
        let told_tx = told_tx.clone();
        std::thread::Builder::new().spawn(move || {
            for _ in 0..3 {
                if let Some(symbols) = demand.wait(Duration::from_secs(10)) {
                    let _ = told_tx.send(symbols);
                }
            }
        })
    });
    let mut workers = Workers::start(fanout, Some(spawn), None).unwrap();
    workers.link(0).set_demand(vec!["BTCUSDT".into()]);
    assert_eq!(told_rx.recv_timeout(Duration::from_secs(10)).unwrap(), vec!["BTCUSDT".to_string()]);
    workers.link(1).set_demand(vec!["ETHUSDT".into(), "BTCUSDT".into()]);
    assert_eq!(told_rx.recv_timeout(Duration::from_secs(10)).unwrap(), vec!["BTCUSDT".to_string(), "ETHUSDT".to_string()]);
    // Loop 1 drops BTCUSDT, which loop 0 still has: the union is unchanged and nothing is sent.
    // Then loop 0 loses its subscribers: only ETHUSDT is left.
    workers.link(1).set_demand(vec!["ETHUSDT".into()]);
    workers.link(0).set_demand(Vec::new());
    assert_eq!(told_rx.recv_timeout(Duration::from_secs(10)).unwrap(), vec!["ETHUSDT".to_string()]);
    workers.stop();
}
