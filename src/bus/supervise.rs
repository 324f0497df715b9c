//! Keeps the bus threads alive: a bus thread whose body panics (or returns before shutdown) is
//! logged (`event=bus_thread_died`), counted (`bus_thread_restarts_total`) and run again after
//! an exponential backoff bounded by [`BUS_THREAD_RESTART_BACKOFF_MAX_MS`]. While it waits,
//! `Shared::threads_down` is not 0 and `/health` says `degraded`.
//!
//! The body is a closure that owns the thread's state (the hub's follower and sequencers, the
//! control thread's lease token and publish backlog), so a restart goes on from where the thread
//! was instead of forgetting stream positions: a panic unwinds out of the call, not out of the
//! state.

use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use log::{error, info};
use prometheus_client::metrics::counter::Counter;

use super::shared::{self, Shared};

/// First restart delay, ms; it doubles per death up to the maximum.
pub const BUS_THREAD_RESTART_BACKOFF_BASE_MS: u64 = 100;
/// Longest restart delay, ms.
pub const BUS_THREAD_RESTART_BACKOFF_MAX_MS: u64 = 5_000;
/// A thread that ran this long before dying restarts after the base delay again, ms.
pub const BUS_THREAD_HEALTHY_AFTER_MS: u64 = 30_000;

/// Starts thread `name` running `body` under supervision; `on_change` is called whenever
/// `shared.threads_down` changed (to re-report `/health`).
pub fn spawn(
    name: &'static str,
    shared: Arc<Shared>,
    body: impl FnMut() + Send + 'static,
    on_change: impl Fn() + Send + 'static,
) -> std::io::Result<JoinHandle<()>> {
    std::thread::Builder::new().name(format!("bus-{name}")).spawn(move || {
        let s = Arc::clone(&shared);
        let hooks = Hooks {
            stopping: &|| s.stopping(),
            down: &s.threads_down,
            restarts: &s.metrics.thread_restarts,
            sleep: &|delay: Duration| shared::sleep_unless_stopped(&s, delay),
            on_change: &on_change,
        };
        run(name, &hooks, body);
    })
}

/// What [`run`] needs from its surroundings (a test gives its own).
pub struct Hooks<'a> {
    pub stopping: &'a dyn Fn() -> bool,
    pub down: &'a AtomicU64,
    pub restarts: &'a Counter,
    pub sleep: &'a dyn Fn(Duration),
    pub on_change: &'a dyn Fn(),
}

/// Runs `body` until it ends while `stopping`; every other end is a death followed by a restart.
pub fn run(name: &str, hooks: &Hooks<'_>, mut body: impl FnMut()) {
    let base = Duration::from_millis(BUS_THREAD_RESTART_BACKOFF_BASE_MS);
    let max = Duration::from_millis(BUS_THREAD_RESTART_BACKOFF_MAX_MS);
    let mut delay = base;
    loop {
        let started = Instant::now();
        let outcome = panic::catch_unwind(AssertUnwindSafe(&mut body));
        if (hooks.stopping)() {
            return;
        }
        if started.elapsed() >= Duration::from_millis(BUS_THREAD_HEALTHY_AFTER_MS) {
            delay = base;
        }
        let how = match &outcome {
            Ok(()) => "returned".to_string(),
            Err(payload) => payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "panic".into()),
        };
        hooks.restarts.inc();
        hooks.down.fetch_add(1, Ordering::AcqRel);
        (hooks.on_change)();
        error!("event=bus_thread_died thread={name} how={how:?} restart_in_ms={}", delay.as_millis());
        (hooks.sleep)(delay);
        hooks.down.fetch_sub(1, Ordering::AcqRel);
        if (hooks.stopping)() {
            return;
        }
        info!("event=bus_thread_restarted thread={name} restarts={}", hooks.restarts.get());
        (hooks.on_change)();
        delay = (delay * 2).min(max);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::{Cell, RefCell};

    #[test]
    fn a_panicking_thread_is_restarted_with_a_bounded_doubling_backoff_and_counted() {
        let down = AtomicU64::new(0);
        let restarts = Counter::default();
        let sleeps = RefCell::new(Vec::new());
        let down_while_sleeping = RefCell::new(Vec::new());
        let changes = Cell::new(0);
        let runs = Cell::new(0u32);
        let stop = Cell::new(false);
        let hooks = Hooks {
            stopping: &|| stop.get(),
            down: &down,
            restarts: &restarts,
            sleep: &|d: Duration| {
                sleeps.borrow_mut().push(d.as_millis() as u64);
                down_while_sleeping.borrow_mut().push(down.load(Ordering::Acquire));
            },
            on_change: &|| changes.set(changes.get() + 1),
        };
        run("test", &hooks, || {
            runs.set(runs.get() + 1);
            if runs.get() <= 8 {
                panic!("body died {}", runs.get());
            }
            stop.set(true);
        });
        assert_eq!(runs.get(), 9, "restarted after every death, until it ended at shutdown");
        assert_eq!(restarts.get(), 8);
        assert_eq!(*sleeps.borrow(), vec![100, 200, 400, 800, 1600, 3200, 5000, 5000]);
        assert!(down_while_sleeping.borrow().iter().all(|&d| d == 1), "degraded while waiting");
        assert_eq!(down.load(Ordering::Acquire), 0, "not degraded once restarted");
        assert_eq!(changes.get(), 16, "each death and each restart re-reports /health");
    }

    #[test]
    fn a_thread_that_returns_before_shutdown_is_restarted_too_and_none_is_at_shutdown() {
        let down = AtomicU64::new(0);
        let restarts = Counter::default();
        let runs = Cell::new(0u32);
        let stop = Cell::new(false);
        let hooks = Hooks { stopping: &|| stop.get(), down: &down, restarts: &restarts, sleep: &|_: Duration| {}, on_change: &|| {} };
        run("test", &hooks, || {
            runs.set(runs.get() + 1);
            if runs.get() == 2 {
                stop.set(true);
            }
        });
        assert_eq!((runs.get(), restarts.get()), (2, 1));
    }
}
