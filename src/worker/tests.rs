//! Supervision with real threads and a real mio waker.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mio::{Events, Poll, Token, Waker};

use super::{ProducerSpawn, Workers};
use crate::core::ProducerStatus;
use crate::shell::{Backend, BackendEvent};

fn waker() -> (Poll, Arc<Waker>) {
    let poll = Poll::new().unwrap();
    let waker = Arc::new(Waker::new(poll.registry(), Token(0)).unwrap());
    (poll, waker)
}

#[test]
fn a_producer_that_dies_is_restarted_with_the_current_demand() {
    let (_poll, waker) = waker();
    let starts = Arc::new(AtomicUsize::new(0));
    let seen = Arc::clone(&starts);
    let spawn: ProducerSpawn = Box::new(move |ctx, _demand, initial| {
        let run = seen.fetch_add(1, Ordering::SeqCst);
        std::thread::Builder::new().spawn(move || {
            if run == 0 {
                panic!("first producer dies on purpose");
            }
            for symbol in initial {
                ctx.send(BackendEvent::Status { symbol, status: ProducerStatus::NoData });
            }
        })
    });
    let mut workers = Workers::start(waker, Some(spawn), None).unwrap();
    workers.set_demand(vec!["BTCUSDT".into()]);
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut restarted_with = None;
    while Instant::now() < deadline && restarted_with.is_none() {
        workers.supervise();
        while let Some(event) = workers.poll_event() {
            if let BackendEvent::Status { symbol, .. } = event {
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
    let (mut poll, waker) = waker();
    let spawn: ProducerSpawn = Box::new(move |ctx, _demand, _initial| {
        std::thread::Builder::new().spawn(move || {
            ctx.send(BackendEvent::Status { symbol: "BTCUSDT".into(), status: ProducerStatus::NoData });
        })
    });
    let mut workers = Workers::start(waker, Some(spawn), None).unwrap();
    let mut events = Events::with_capacity(4);
    poll.poll(&mut events, Some(Duration::from_secs(10))).unwrap();
    assert!(events.iter().any(|e| e.token() == Token(0)), "the waker fired");
    assert!(matches!(workers.poll_event(), Some(BackendEvent::Status { .. })));
    workers.stop();
}
