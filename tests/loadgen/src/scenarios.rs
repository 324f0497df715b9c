//! The scenarios: sequences of phases over one swarm, each phase measured on its own.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use super::args::{Plan, Scenario};
use super::report::{Check, PhaseReport, Report, ServerReport};
use super::server_metrics::{scrape, Sampler, ServerSample};
use super::swarm::Swarm;

/// Time the idle scenario lets the server settle (handshake buffers freed) before measuring.
const IDLE_SETTLE: Duration = Duration::from_secs(2);
/// Churn acts this often.
const CHURN_TICK: Duration = Duration::from_millis(100);

/// This process's user + system CPU seconds.
fn own_cpu_seconds() -> f64 {
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: getrusage fills the struct we own; on failure it stays zeroed.
    let usage = unsafe {
        libc::getrusage(libc::RUSAGE_SELF, usage.as_mut_ptr());
        usage.assume_init()
    };
    let seconds = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    seconds(usage.ru_utime) + seconds(usage.ru_stime)
}

/// Measures phases: stats from the swarm, server figures from `/metrics`.
struct Recorder<'a> {
    plan: &'a Plan,
    origin: Instant,
    sampler: Option<Sampler>,
    phases: Vec<PhaseReport>,
}

/// A phase being measured.
struct Open {
    name: &'static str,
    started: Instant,
    server: Option<ServerSample>,
    cpu_seconds: f64,
}

impl<'a> Recorder<'a> {
    fn scrape(&self) -> Option<ServerSample> {
        scrape(self.plan.args.target, self.origin.elapsed().as_millis() as u64).ok()
    }

    fn begin(&self, swarm: &mut Swarm, name: &'static str) -> Open {
        let server = self.scrape();
        swarm.take_stats();
        Open { name, started: Instant::now(), server, cpu_seconds: own_cpu_seconds() }
    }

    fn end(&mut self, swarm: &mut Swarm, open: Open) -> usize {
        let stats = swarm.take_stats();
        let seconds = open.started.elapsed().as_secs_f64();
        let end = self.scrape();
        let server = match (&open.server, &end) {
            (Some(start), Some(end)) => {
                let between = self.sampler.as_ref().map(|s| s.between(start.at_ms + 1, end.at_ms.saturating_sub(1))).unwrap_or_default();
                Some(ServerReport::from_samples(start, end, &between))
            }
            _ => None,
        };
        let cpu = if seconds > 0.0 { (own_cpu_seconds() - open.cpu_seconds) / seconds * 100.0 } else { 0.0 };
        self.phases.push(PhaseReport::new(open.name, seconds, swarm.open_count(), stats, server, cpu));
        self.phases.len() - 1
    }
}

/// Opens the plan's clients and waits until all are served (or given up on), as phase "ramp".
fn ramp(plan: &Plan, swarm: &mut Swarm, recorder: &mut Recorder) -> std::io::Result<usize> {
    let n = plan.args.connections;
    let open = recorder.begin(swarm, "ramp");
    let ramp_time = if plan.args.ramp_per_s > 0.0 { Duration::from_secs_f64(n as f64 / plan.args.ramp_per_s) } else { Duration::ZERO };
    swarm.ramp(0..n, plan.args.ramp_per_s, Instant::now() + ramp_time + plan.settle_timeout)?;
    let subscribing = swarm.subscribe;
    swarm.run_while(Instant::now() + plan.settle_timeout, |s| {
        let done = if subscribing { s.served() } else { s.open_count() };
        done + s.gave_up() < n
    })?;
    Ok(recorder.end(swarm, open))
}

/// Runs the plan's scenario and returns its report (checks included).
pub fn run(plan: &Plan) -> std::io::Result<Report> {
    let args = &plan.args;
    let slow_percent = if args.scenario == Scenario::Slow { args.slow_percent } else { 0.0 };
    let mut swarm = Swarm::new(plan, slow_percent)?;
    swarm.subscribe = args.scenario != Scenario::Idle;
    let origin = Instant::now();
    // The idle scenario measures the server's idle CPU: periodic scrapes would be most of it.
    let sampler =
        if args.scenario == Scenario::Idle { None } else { Some(Sampler::start(args.target, Duration::from_millis(args.scrape_interval_ms), origin)?) };
    let mut recorder = Recorder { plan, origin, sampler, phases: Vec::new() };
    let mut findings = BTreeMap::new();
    let n = args.connections;

    let (connect_phase, delivery_phase) = match args.scenario {
        Scenario::Steady => {
            let ramp = ramp(plan, &mut swarm, &mut recorder)?;
            let open = recorder.begin(&mut swarm, "steady");
            swarm.run_until(Instant::now() + plan.duration)?;
            (ramp, Some(recorder.end(&mut swarm, open)))
        }
        Scenario::Slow => {
            let ramp = ramp(plan, &mut swarm, &mut recorder)?;
            let open = recorder.begin(&mut swarm, "clean");
            swarm.run_until(Instant::now() + plan.duration)?;
            let clean = recorder.end(&mut swarm, open);
            let open = recorder.begin(&mut swarm, "slow");
            let stalled = swarm.stall_slow_group();
            swarm.run_until(Instant::now() + plan.duration)?;
            let slow = recorder.end(&mut swarm, open);
            findings.insert("stalled_clients".into(), stalled as f64);
            let (clean_p99, slow_p99) = (recorder.phases[clean].delivery.p99_ms, recorder.phases[slow].delivery.p99_ms);
            findings.insert("slow_fast_clients_p99_ratio".into(), if clean_p99 > 0.0 { slow_p99 / clean_p99 } else { f64::NAN });
            (ramp, Some(slow))
        }
        Scenario::Storm => {
            ramp(plan, &mut swarm, &mut recorder)?;
            let open = recorder.begin(&mut swarm, "storm");
            let ids = swarm.close_all();
            swarm.retry_failed = true;
            swarm.reset_gave_up();
            let started = Instant::now();
            for &id in &ids {
                swarm.open(id, 0);
            }
            let all = ids.len();
            swarm.run_while(started + plan.settle_timeout, |s| s.served() + s.gave_up() < all)?;
            let served_s = started.elapsed().as_secs_f64();
            findings.insert("storm_clients".into(), all as f64);
            findings.insert("storm_served_again".into(), swarm.served() as f64);
            findings.insert("storm_served_s".into(), if swarm.served() == all { served_s } else { f64::NAN });
            let storm = recorder.end(&mut swarm, open);
            (storm, None)
        }
        Scenario::Churn => {
            let ramp = ramp(plan, &mut swarm, &mut recorder)?;
            let open = recorder.begin(&mut swarm, "churn");
            let end = Instant::now() + plan.duration;
            let mut owed = 0.0;
            let mut next_id = n;
            while Instant::now() < end {
                owed += args.churn_per_s * CHURN_TICK.as_secs_f64();
                let count = owed as usize;
                owed -= count as f64;
                swarm.close_some(count);
                for _ in 0..count {
                    swarm.open(next_id, 0);
                    next_id += 1;
                }
                swarm.run_until((Instant::now() + CHURN_TICK).min(end))?;
            }
            // Let the last replacements finish their handshakes so every attempt has an outcome.
            swarm.run_while(Instant::now() + plan.settle_timeout, |s| s.pending() > 0)?;
            findings.insert("churned_connections".into(), (next_id - n) as f64);
            (ramp, Some(recorder.end(&mut swarm, open)))
        }
        Scenario::Idle => {
            let baseline = recorder.scrape();
            let ramp = ramp(plan, &mut swarm, &mut recorder)?;
            swarm.run_until(Instant::now() + IDLE_SETTLE)?;
            let open = recorder.begin(&mut swarm, "idle");
            swarm.run_until(Instant::now() + plan.duration)?;
            let idle = recorder.end(&mut swarm, open);
            let held = recorder.phases[idle].clients_open_end;
            findings.insert("idle_connections_held".into(), held as f64);
            if let (Some(base), Some(server)) = (baseline, &recorder.phases[idle].server) {
                findings.insert("idle_rss_without_bytes".into(), base.rss_bytes);
                findings.insert("idle_rss_with_bytes".into(), server.rss_end_bytes);
                let per = if held > 0 { (server.rss_end_bytes - base.rss_bytes) / held as f64 } else { f64::NAN };
                findings.insert("idle_rss_per_connection_bytes".into(), per);
                findings.insert("idle_server_cpu_percent".into(), server.cpu_percent);
            }
            (ramp, Some(idle))
        }
    };
    drop(swarm);
    let checks = checks(plan, &recorder.phases, connect_phase, delivery_phase, &findings);
    let passed = checks.iter().all(|c| c.passed);
    Ok(Report {
        scenario: args.scenario,
        target: args.target.to_string(),
        connections: n,
        symbols: plan.symbols.clone(),
        symbols_per_client: args.symbols_per_client,
        phases: std::mem::take(&mut recorder.phases),
        findings,
        checks,
        passed,
    })
}

/// The thresholds the command line asked for, against the phases they are about.
fn checks(plan: &Plan, phases: &[PhaseReport], connect: usize, delivery: Option<usize>, findings: &BTreeMap<String, f64>) -> Vec<Check> {
    let args = &plan.args;
    let finding = |name: &str| findings.get(name).copied().unwrap_or(f64::NAN);
    let delivery = delivery.map(|i| &phases[i]);
    let mut checks = Vec::new();
    if let Some(limit) = args.min_connect_rate {
        checks.push(Check::at_least("connect success percent", limit, phases[connect].connect.success_percent));
    }
    if let Some(limit) = args.max_p99_ms {
        checks.push(Check::at_most("delivery p99 ms", limit, delivery.map_or(f64::NAN, |p| p.delivery.p99_ms)));
    }
    if let Some(limit) = args.max_p95_ms {
        checks.push(Check::at_most("delivery p95 ms", limit, delivery.map_or(f64::NAN, |p| p.delivery.p95_ms)));
    }
    if let Some(limit) = args.max_lost {
        let lost: u64 = phases.iter().map(|p| p.lost + p.reordered).sum();
        checks.push(Check::at_most("snapshots lost or reordered", limit as f64, lost as f64));
    }
    if let Some(limit) = args.max_server_cpu_percent {
        let phase = delivery.unwrap_or(&phases[connect]);
        checks.push(Check::at_most("server CPU percent", limit, phase.server.as_ref().map_or(f64::NAN, |s| s.cpu_percent)));
    }
    if let Some(limit) = args.max_served_s {
        checks.push(Check::at_most("storm: seconds until all served again", limit, finding("storm_served_s")));
    }
    if let Some(limit) = args.max_rss_per_connection_bytes {
        checks.push(Check::at_most("idle: server RSS bytes per connection", limit, finding("idle_rss_per_connection_bytes")));
    }
    if let Some(limit) = args.max_slow_p99_ratio {
        checks.push(Check::at_most("slow: fast clients' p99 / clean p99", limit, finding("slow_fast_clients_p99_ratio")));
    }
    checks
}
