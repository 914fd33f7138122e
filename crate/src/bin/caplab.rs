//! The `caplab` command: list, run and check scenarios, fuzz protocols under random faults, and
//! benchmark the simulator. Errors go to stderr with exit code 1.

use caplab::check::{fuzz, linearizability};
use caplab::protocols;
use caplab::scenario::run::{RunOptions, run};
use caplab::scenario::{Scenario, library};
use caplab::sim::time::Time;
use clap::{Parser, Subcommand};
use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;

#[derive(Parser)]
#[command(name = "caplab", version, about = "CAPlab: learn distributed-systems protocols by breaking them")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// List every built-in scenario: name and title.
    List,
    /// Run a scenario (a built-in name or a path to a JSON file) and print its summary.
    Run {
        /// Scenario name (see `caplab list`) or path to a scenario file.
        scenario: String,
        /// Use this seed instead of the scenario's.
        #[arg(long)]
        seed: Option<u64>,
        /// Stop at this virtual time (milliseconds, fractions allowed) instead of the scenario's
        /// duration.
        #[arg(long)]
        until_ms: Option<f64>,
        /// Write the client history (JSON array) to this file.
        #[arg(long)]
        history: Option<String>,
        /// Write every trace event (one JSON object a line) to this file.
        #[arg(long)]
        trace: Option<String>,
        /// Print the summary as one JSON object.
        #[arg(long)]
        json: bool,
        /// For a scenario that compares systems: run only this side (its name, e.g. `ap`, or its
        /// number from 0). Without it, every side runs and prints one summary each, then a table
        /// comparing them (with `--json`, `{"sides": {"cp": {...}, "ap": {...}}}`).
        #[arg(long)]
        side: Option<String>,
    },
    /// Run scenarios and fail (exit 1) if an invariant or an expectation fails.
    Check {
        /// Scenario names or paths to scenario files.
        #[arg(required = true)]
        scenarios: Vec<String>,
    },
    /// Drive a protocol through random fault schedules, checking invariants after every step.
    Fuzz {
        /// Protocol name (e.g. raft).
        protocol: String,
        /// How many seeds to run.
        #[arg(long, default_value_t = 100)]
        seeds: u64,
        /// The first seed.
        #[arg(long, default_value_t = 0)]
        start: u64,
        /// Print a line per seed.
        #[arg(long)]
        verbose: bool,
        /// Write the scenario of the first seed to this file (to open it on the page or run it).
        #[arg(long)]
        dump: Option<String>,
    },
    /// Randomized runs of an epidemic protocol checked against its theory: `gossip` compares
    /// the rounds to inform every node with Frieze–Grimmett/Pittel (push), Karp et al.
    /// (push-pull) and the residue with Demers et al.; `swim` checks that every crash is
    /// detected by every live node and that no live node is declared dead without loss.
    /// Prints a table; exits 1 if a check fails.
    Trials {
        /// `gossip` or `swim`.
        protocol: String,
        /// Seeds per measured case (default: the protocol's own, 100 for gossip).
        #[arg(long)]
        seeds: Option<u64>,
        /// The first seed.
        #[arg(long, default_value_t = 0)]
        start: u64,
        /// Fewer and smaller runs (what the debug-mode tests run).
        #[arg(long)]
        quick: bool,
    },
    /// Measure simulated events per second for each protocol.
    Bench {
        /// Virtual seconds to simulate per measurement.
        #[arg(long, default_value_t = 60)]
        seconds: u64,
        /// Only print the benchmark scenario of this protocol as JSON (for the wasm benchmark).
        #[arg(long)]
        print_scenario: Option<String>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::List => list(),
        Command::Run { scenario, seed, until_ms, history, trace, json, side } => {
            let out = Output { history: history.as_deref(), trace: trace.as_deref(), json };
            run_cmd(&scenario, seed, until_ms, side.as_deref(), &out)
        }
        Command::Check { scenarios } => check(&scenarios),
        Command::Fuzz { protocol, seeds, start, verbose, dump } => {
            fuzz_cmd(&protocol, seeds, start, verbose, dump.as_deref())
        }
        Command::Trials { protocol, seeds, start, quick } => trials_cmd(&protocol, seeds, start, quick),
        Command::Bench { seconds, print_scenario: Some(p) } => caplab::scenario::benchmark(&p, 5, 2, seconds)
            .map(|s| println!("{}", s.to_json()))
            .map_err(|e| e.to_string()),
        Command::Bench { seconds, print_scenario: None } => bench(seconds),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("caplab: {message}");
            ExitCode::FAILURE
        }
    }
}

fn trials_cmd(protocol: &str, seeds: Option<u64>, start: u64, quick: bool) -> Result<(), String> {
    let started = Instant::now();
    let (table, failures) = match protocol {
        "gossip" => protocols::gossip::trials::trials(seeds.unwrap_or(100), start, quick),
        "swim" => protocols::swim::trials::trials(seeds.unwrap_or(200), start, quick),
        other => return Err(format!("no trials for `{other}`: there are trials for gossip and swim")),
    };
    println!("{table}");
    println!("({:.1} s)", started.elapsed().as_secs_f64());
    if failures.is_empty() {
        return Ok(());
    }
    for f in &failures {
        println!("FAILED {f}");
    }
    Err(format!("{} of the {protocol} trials failed", failures.len()))
}

/// A built-in name, or a path when it names a file or looks like one.
fn load(arg: &str) -> Result<Scenario, String> {
    let looks_like_path = arg.ends_with(".json") || arg.contains('/') || Path::new(arg).is_file();
    if looks_like_path {
        let text = std::fs::read_to_string(arg).map_err(|e| format!("cannot read {arg}: {e}"))?;
        Scenario::from_json(&text).map_err(|e| format!("{arg}: {e}"))
    } else {
        library::get(arg).map_err(|e| e.to_string())
    }
}

fn list() -> Result<(), String> {
    for entry in library::all() {
        match entry {
            Ok(s) => println!("{:<32} {}", s.name, s.title.en()),
            Err((name, e)) => println!("{name:<32} (broken: {e})"),
        }
    }
    Ok(())
}

fn write(path: &str, text: &str) -> Result<(), String> {
    std::fs::write(path, text).map_err(|e| format!("cannot write {path}: {e}"))
}

struct Output<'a> {
    history: Option<&'a str>,
    trace: Option<&'a str>,
    json: bool,
}

fn run_cmd(
    arg: &str,
    seed: Option<u64>,
    until_ms: Option<f64>,
    side: Option<&str>,
    out: &Output,
) -> Result<(), String> {
    let scenario = load(arg)?;
    if let Some(t) = until_ms
        && !(t.is_finite() && (0.0..=caplab::scenario::MAX_DURATION_MS as f64).contains(&t))
    {
        return Err(format!("--until-ms {t} is not a time from 0 to {} ms", caplab::scenario::MAX_DURATION_MS));
    }
    let opts = RunOptions { seed, until_ms, record_trace: out.trace.is_some() };
    if let Some(which) = side {
        let i = scenario.side_index(which).map_err(|e| format!("{arg}: {e}"))?;
        let one = scenario.side(i).map_err(|e| format!("{arg}: {e}"))?;
        return run_one(arg, &one, &opts, out);
    }
    if scenario.compare.is_empty() {
        return run_one(arg, &scenario, &opts, out);
    }
    if out.history.is_some() || out.trace.is_some() {
        return Err(format!("{arg} compares systems: choose one with --side to write its history or trace"));
    }
    let mut sides = serde_json::Map::new();
    let mut table = Vec::new();
    for (i, side) in scenario.compare.iter().enumerate() {
        let one = scenario.side(i).map_err(|e| format!("{arg}: {e}"))?;
        let r = run(&one, &opts).map_err(|e| format!("{arg} (side {}): {e}", side.name))?;
        table.push((side.name.clone(), r.summary.protocol.clone(), r.summary.consensus.clone()));
        if out.json {
            sides.insert(side.name.clone(), serde_json::to_value(&r.summary).map_err(|e| e.to_string())?);
        } else {
            if i > 0 {
                println!();
            }
            println!("side         {}", side.name);
            print_summary(&r.summary);
        }
    }
    if out.json {
        let all = serde_json::json!({ "scenario": scenario.name, "sides": sides });
        println!("{}", serde_json::to_string_pretty(&all).map_err(|e| e.to_string())?);
    } else if table.iter().all(|(_, _, c)| c.is_some()) {
        print_consensus_table(&table);
    }
    Ok(())
}

/// The consensus comparison in one table: a row per side.
fn print_consensus_table(rows: &[(String, String, Option<caplab::check::leadership::Consensus>)]) {
    let ms = |v: Option<f64>| v.map_or("n/a".to_string(), |v| format!("{v:.1} ms"));
    println!();
    println!(
        "{:<12} {:<11} {:>9} {:>14} {:>11} {:>11} {:>22}",
        "side", "protocol", "messages", "per ok write", "write p50", "write p99", "no leader after crash"
    );
    for (name, protocol, c) in rows {
        let Some(c) = c else { continue };
        let lat = c.write_latency_ms;
        println!(
            "{:<12} {:<11} {:>9} {:>14} {:>11} {:>11} {:>22}",
            name,
            protocol,
            c.peer_messages,
            c.messages_per_write.map_or("n/a".into(), |m| format!("{m:.1}")),
            ms(lat.map(|l| l.p50)),
            ms(lat.map(|l| l.p99)),
            ms(c.leaderless_after_crash_ms),
        );
    }
}

fn run_one(arg: &str, scenario: &Scenario, opts: &RunOptions, out: &Output) -> Result<(), String> {
    let r = run(scenario, opts).map_err(|e| format!("{arg}: {e}"))?;
    if let Some(path) = out.history {
        write(path, &r.sim.history().to_json())?;
    }
    if let Some(path) = out.trace {
        let mut text = r.trace.join("\n");
        text.push('\n');
        write(path, &text)?;
    }
    if out.json {
        println!("{}", serde_json::to_string_pretty(&r.summary).map_err(|e| e.to_string())?);
    } else {
        print_summary(&r.summary);
    }
    Ok(())
}

/// A figure on one line: numbers rounded, long arrays shortened to their ends.
fn brief(v: &serde_json::Value) -> String {
    use serde_json::Value;
    match v {
        Value::Number(n) => match n.as_f64() {
            Some(x) if x.fract() != 0.0 => format!("{x:.3}"),
            _ => n.to_string(),
        },
        Value::Null => "n/a".into(),
        Value::Array(a) if a.len() > 12 => {
            let head: Vec<String> = a[..6].iter().map(brief).collect();
            let tail: Vec<String> = a[a.len() - 3..].iter().map(brief).collect();
            format!("[{}, ... {}] ({} values)", head.join(", "), tail.join(", "), a.len())
        }
        Value::Array(a) => format!("[{}]", a.iter().map(brief).collect::<Vec<_>>().join(", ")),
        Value::Object(o) => {
            let parts: Vec<String> = o.iter().map(|(k, v)| format!("{k} {}", brief(v))).collect();
            format!("{{{}}}", parts.join(", "))
        }
        other => other.to_string().trim_matches('"').to_string(),
    }
}

fn print_summary(s: &caplab::scenario::run::Summary) {
    println!("scenario     {} ({})", s.scenario, s.protocol);
    println!("seed         {}", s.seed);
    println!("end          {} ms, {} events", s.end_ms, s.events);
    let m = &s.messages;
    println!(
        "messages     {} sent, {} delivered, {} dropped, {} duplicated",
        m.sent, m.delivered, m.dropped, m.duplicated
    );
    let o = &s.operations;
    println!("operations   {} ({} ok, {} fail, {} unknown)", o.total, o.ok, o.fail, o.unknown);
    match &s.invariants {
        serde_json::Value::String(ok) => println!("invariants   {ok}"),
        other => println!("invariants   VIOLATED {other}"),
    }
    let lin = s.linearizable.map_or("n/a".to_string(), |l| if l { "yes".into() } else { "NO".into() });
    println!("linearizable {lin}");
    println!("stale reads  {}", s.stale_reads);
    let avail = s.availability.map_or("n/a".to_string(), |a| format!("{:.2}%", a * 100.0));
    println!("availability {avail}");
    let lat = s.latency_ms.map_or("n/a".to_string(), |l| {
        format!("p50 {} ms, p90 {} ms, p99 {} ms, max {} ms", l.p50, l.p90, l.p99, l.max)
    });
    println!("latency      {lat}");
    println!("converged    {}", s.converged_ms.map_or("n/a".into(), |ms| format!("{ms} ms after the last heal")));
    if let Some(c) = &s.consensus {
        let per = c.messages_per_write.map_or("n/a".to_string(), |m| format!("{m:.1}"));
        println!("leaders      {} changes, first at {} ms", c.leader_changes, c.first_leader_ms.unwrap_or(0.0));
        for g in &c.leaderless {
            let to = g.to_ms.map_or("(still none)".to_string(), |t| format!("to {t} ms"));
            println!(
                "no leader    {} ms from {} ms {to}, after {} {}",
                g.ms,
                g.from_ms,
                g.lost,
                g.cause.replace('_', " ")
            );
        }
        println!(
            "per write    {per} node-to-node messages ({} in all, {} ok writes)",
            c.peer_messages, c.writes_committed
        );
    }
    if let serde_json::Value::Object(figures) = &s.figures {
        for (name, value) in figures {
            println!("{:<12} {}", name.replace('_', " "), brief(value));
        }
    }
    if !s.transactions.is_empty() {
        let t = &s.transactions;
        let decided = t.iter().filter(|x| x.decided).count();
        let split = t.iter().filter(|x| !x.atomic).count();
        let longest = t.iter().map(|x| x.blocked_ms).fold(0.0, f64::max);
        println!(
            "transactions {} ({decided} decided everywhere, {split} NOT atomic), longest block {longest} ms",
            t.len()
        );
        // The few transactions of a tour, one a line; a long run's only in --json.
        if t.len() <= 8 {
            for x in t {
                let parts: Vec<String> = x
                    .nodes
                    .iter()
                    .map(|(n, p)| {
                        let d = p.decision.map_or("undecided", caplab::protocols::txn::name);
                        let blocked =
                            if p.blocked_ms > 0.0 { format!(", blocked {} ms", p.blocked_ms) } else { String::new() };
                        format!("{n} {} ({d}{blocked})", p.state)
                    })
                    .collect();
                println!("  {:<10} {}", x.txn, parts.join(", "));
            }
        }
    }
    for e in &s.expect {
        println!("expect       {} {} — {}", if e.ok { "ok  " } else { "FAIL" }, e.expect, e.detail);
    }
    println!("trace_hash   {}", s.trace_hash);
}

fn check(args: &[String]) -> Result<(), String> {
    let mut failed = Vec::new();
    for arg in args {
        let scenario = match load(arg) {
            Ok(s) => s,
            Err(e) => {
                println!("FAIL {arg}: {e}");
                failed.push(arg.clone());
                continue;
            }
        };
        // A comparison passes when both of its sides do.
        let runs: Vec<(String, Scenario)> = if scenario.compare.is_empty() {
            vec![(scenario.name.clone(), scenario.clone())]
        } else {
            let sides = (0..scenario.compare.len())
                .map(|i| scenario.side(i).map(|s| (format!("{}[{}]", scenario.name, scenario.compare[i].name), s)));
            match sides.collect::<Result<Vec<_>, _>>() {
                Ok(list) => list,
                Err(e) => {
                    println!("FAIL {arg}: {e}");
                    failed.push(arg.clone());
                    continue;
                }
            }
        };
        let mut ok = true;
        for (label, one) in runs {
            match run(&one, &RunOptions::default()) {
                Ok(r) if r.summary.passed() => {
                    println!(
                        "ok   {label:<32} {} expectations, trace {}",
                        r.summary.expect.len(),
                        r.summary.trace_hash
                    );
                }
                Ok(r) => {
                    println!("FAIL {label}");
                    for reason in r.summary.failures() {
                        println!("     {reason}");
                    }
                    ok = false;
                }
                Err(e) => {
                    println!("FAIL {label}: {e}");
                    ok = false;
                }
            }
        }
        if !ok {
            failed.push(arg.clone());
        }
    }
    if failed.is_empty() {
        println!("{} passed, 0 failed", args.len());
        Ok(())
    } else {
        println!("{} passed, {} failed", args.len() - failed.len(), failed.len());
        Err(format!("{} scenario(s) failed: {}", failed.len(), failed.join(", ")))
    }
}

fn fuzz_cmd(protocol: &str, seeds: u64, start: u64, verbose: bool, dump: Option<&str>) -> Result<(), String> {
    let info = protocols::info(protocol).map_err(|e| e.to_string())?;
    if info.fuzz_faults == protocols::FuzzFaults::CrashOnly {
        println!("{protocol}: crashes and restarts only (its paper assumes a synchronous network)");
    }
    if !info.linearizable {
        println!("{protocol}: invariants and settling checked; the history is not held to linearizability");
    }
    if start.checked_add(seeds).is_none() {
        return Err(format!("--start {start} with --seeds {seeds} runs past the largest seed"));
    }
    let plan = fuzz::FuzzPlan::for_protocol(protocol);
    if let Some(path) = dump {
        write(path, &fuzz::scenario(protocol, start, &plan).to_json())?;
    }
    let began = Instant::now();
    let report = fuzz::run(protocol, start, seeds, &plan, |seed, result| match result {
        Ok((steps, ops)) if verbose => println!("seed {seed}: ok ({steps} events, {ops} operations)"),
        Err(reason) => {
            println!("seed {seed}: FAILED: {reason}");
            println!("  reproduce: {}", fuzz::reproduce_command(protocol, seed));
        }
        _ => {}
    });
    let secs = began.elapsed().as_secs_f64();
    println!(
        "fuzz {protocol}: {} seeds ({}..{}), {} events, {} operations, {} violations/failures, {:.1} s",
        report.runs,
        start,
        start + seeds.saturating_sub(1),
        report.steps,
        report.operations,
        report.failures.len(),
        secs
    );
    if report.failures.is_empty() {
        Ok(())
    } else {
        let seeds: Vec<String> = report.failures.iter().map(|f| f.seed.to_string()).collect();
        Err(format!("{} seed(s) failed: {}", report.failures.len(), seeds.join(", ")))
    }
}

fn bench(seconds: u64) -> Result<(), String> {
    println!(
        "{:<10} {:>6} {:>8} {:>10} {:>12} {:>16}",
        "protocol", "nodes", "clients", "events", "invariants", "events/second"
    );
    for p in protocols::PROTOCOLS {
        let s = caplab::scenario::benchmark(p.name, 5, 2, seconds).map_err(|e| e.to_string())?;
        for checks in [true, false] {
            let mut sim = protocols::build(&s, None).map_err(|e| e.to_string())?;
            sim.set_check_invariants(checks);
            let began = Instant::now();
            let steps = sim.run_until(Time::from_ms(s.duration_ms));
            let secs = began.elapsed().as_secs_f64().max(1e-9);
            println!(
                "{:<10} {:>6} {:>8} {:>10} {:>12} {:>16.0}",
                p.name,
                s.nodes,
                s.clients,
                steps,
                if checks { "on" } else { "off" },
                steps as f64 / secs
            );
        }
    }
    println!();
    println!(
        "{:<28} {:>10} {:>8} {:>14} {:>12}",
        "linearizability checker", "operations", "keys", "linearizable", "time (ms)"
    );
    for target in [1_000, 10_000] {
        let history = raft_history(target)?;
        let began = Instant::now();
        let verdict = linearizability::check(&history, &linearizability::CheckOptions::default());
        let ms = began.elapsed().as_secs_f64() * 1000.0;
        let verdict =
            verdict.linearizable.map_or("gave up".to_string(), |l| if l { "yes".into() } else { "NO".into() });
        println!(
            "{:<28} {:>10} {:>8} {:>14} {:>12.1}",
            "raft, 5 clients",
            history.len(),
            CHECKER_BENCH_KEYS,
            verdict,
            ms
        );
    }
    Ok(())
}

/// Keys of the histories the checker is timed on.
const CHECKER_BENCH_KEYS: u32 = 10;

/// A real history for timing the checker: the `raft` benchmark scenario (a healthy cluster
/// of 5 nodes) with 5 clients on 10 keys, run until it has recorded at least `ops` operations
/// (those still in flight then are `unknown`, as in any history taken mid-run).
fn raft_history(ops: usize) -> Result<Vec<caplab::workload::history::HistoryEntry>, String> {
    let mut s = caplab::scenario::benchmark("raft", 5, 5, 3600).map_err(|e| e.to_string())?;
    s.workload.keys = CHECKER_BENCH_KEYS;
    let mut sim = protocols::build(&s, None).map_err(|e| e.to_string())?;
    sim.set_check_invariants(false);
    let mut now = Time::from_ms(0);
    while sim.history().entries().len() < ops {
        if now >= Time::from_ms(s.duration_ms) {
            return Err(format!("the benchmark scenario recorded fewer than {ops} operations"));
        }
        now = Time(now.0 + 1_000);
        sim.run_until(now);
    }
    Ok(sim.history().entries().to_vec())
}
