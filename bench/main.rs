//! `make bench`: llmgate next to its references in one run. The same mock vLLM upstream
//! (in this process) is called directly, through llmgate (auth, metrics and JSON access
//! log on), through a bare Pingora pass-through (`bench/bare_pingora.rs`, the framework's
//! floor) and through nginx when it is installed. Every proxy is its own process with one
//! worker; CPU and memory come from the kernel's accounting of that process. Targets take
//! turns within each repetition (A/B alternation, so drift hits all alike) and the table
//! shows medians over the repetitions.
//!
//!     make bench BENCH_ARGS="--secs 3 --reps 3 --streams 2000"

mod http1;
mod load;
mod procs;
mod upstream;

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use load::{Run, StreamRun, quantile, request};
use procs::{CLIENT_KEY, Proxy};
use upstream::Upstream;

struct Args {
    secs: f64,
    reps: usize,
    open_streams: usize,
    /// Measure only this proxy (and direct), e.g. while profiling it.
    only: Option<String>,
    /// Run only these sections (requests, max = its closed loop alone, agent, streams, memory); all when empty.
    sections: Vec<String>,
}

impl Args {
    fn section(&self, name: &str) -> bool {
        self.sections.is_empty() || self.sections.iter().any(|s| s == name)
    }
}

fn args() -> Args {
    let mut a = Args {
        secs: 3.0,
        reps: 3,
        open_streams: 2000,
        only: None,
        sections: Vec::new(),
    };
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let mut i = 0;
    while i < argv.len() {
        let value = argv.get(i + 1).and_then(|v| v.parse::<f64>().ok());
        match (argv[i].as_str(), value) {
            ("--secs", Some(v)) => a.secs = v,
            ("--reps", Some(v)) => a.reps = v as usize,
            ("--streams", Some(v)) => a.open_streams = v as usize,
            ("--only", _) if i + 1 < argv.len() => a.only = Some(argv[i + 1].clone()),
            ("--section", _) if i + 1 < argv.len() => a.sections.push(argv[i + 1].clone()),
            ("--quick", _) => {
                a.secs = 0.5;
                a.reps = 1;
                a.open_streams = 200;
                i += 1;
                continue;
            }
            (other, _) => {
                eprintln!(
                    "unknown argument {other} (--secs S, --reps N, --streams N, --only NAME, --section NAME, --quick)"
                );
                std::process::exit(64);
            }
        }
        i += 2;
    }
    a
}

/// One way to reach the upstream: directly or through a proxy.
struct Target<'a> {
    name: &'static str,
    addr: String,
    proxy: Option<&'a Proxy>,
    key: Option<&'static str>,
}

/// Runs `work` against `target` and returns its result with the proxy's CPU time (ns).
async fn accounted<T>(target: &Target<'_>, work: impl Future<Output = T>) -> (T, u64) {
    let before = target.proxy.map_or(0, Proxy::cpu_ns);
    let out = work.await;
    let after = target.proxy.map_or(0, Proxy::cpu_ns);
    (out, after.saturating_sub(before))
}

fn median(mut v: Vec<f64>) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Per-target medians of one scenario's figures, by name.
#[derive(Default)]
struct Figures(Vec<(&'static str, String, Vec<f64>)>);

impl Figures {
    fn add(&mut self, target: &'static str, figure: String, value: f64) {
        match self
            .0
            .iter_mut()
            .find(|(t, f, _)| *t == target && *f == figure)
        {
            Some((_, _, v)) => v.push(value),
            None => self.0.push((target, figure, vec![value])),
        }
    }
    fn get(&self, target: &str, figure: &str) -> f64 {
        self.0
            .iter()
            .find(|(t, f, _)| *t == target && *f == figure)
            .map_or(f64::NAN, |(_, _, v)| median(v.clone()))
    }
}

/// Whether an earlier build runs as the "before" column (`BENCH_BEFORE_BIN`).
static SHOW_BEFORE: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

fn columns() -> Vec<&'static str> {
    let mut c = vec!["direct", "nginx", "pingora"];
    if SHOW_BEFORE.load(Ordering::Relaxed) {
        c.push("before");
    }
    c.push("llmgate");
    c
}

/// The llmgate builds measured: this one, and an earlier one when there is one.
fn gateways() -> Vec<&'static str> {
    columns()
        .into_iter()
        .filter(|c| *c == "before" || *c == "llmgate")
        .collect()
}

fn print_header(title: &str) {
    println!("\n{title}");
    let names: String = columns().iter().map(|c| format!("{c:>10}")).collect();
    println!("  {:<34}{names}{:>12}", "", "llmgate/pg");
}

fn print_row(fig: &Figures, label: &str, figure: &str, decimals: usize) {
    let cell = |t: &str| {
        let v = fig.get(t, figure);
        if v.is_nan() {
            format!("{:>10}", "-")
        } else {
            format!("{v:>10.decimals$}")
        }
    };
    let ratio = fig.get("llmgate", figure) / fig.get("pingora", figure);
    let ratio = if ratio.is_finite() {
        format!("{ratio:>11.2}x")
    } else {
        format!("{:>12}", "-")
    };
    let cells: String = columns().into_iter().map(cell).collect();
    println!("  {label:<34}{cells}{ratio}");
}

/// A chat request the size of a small real one.
const CHAT: &str = r#"{"model":"m","messages":[{"role":"system","content":"You are a helpful assistant."},{"role":"user","content":"What is the capital of France?"}],"max_tokens":64,"temperature":0.2}"#;
const CHAT_STREAM: &str = r#"{"model":"m","stream":true,"messages":[{"role":"system","content":"You are a helpful assistant."},{"role":"user","content":"Tell me a story."}],"max_tokens":64}"#;
const MESSAGES_STREAM: &str = r#"{"model":"m","stream":true,"max_tokens":64,"system":"You are a helpful assistant.","messages":[{"role":"user","content":"Tell me a story."}]}"#;

/// A 4 KiB Anthropic Messages request with 5 tools, like one step of an agent loop.
fn messages_with_tools() -> String {
    let tools: Vec<String> = ["read_file", "write_file", "list_directory", "run_command", "search_code"]
        .iter()
        .map(|name| {
            format!(
                r#"{{"name":"{name}","description":"{name} on the user's workspace. Paths are relative to the repository root; the result is returned as text and truncated past 64 KiB.","input_schema":{{"type":"object","properties":{{"path":{{"type":"string","description":"A path relative to the repository root"}},"pattern":{{"type":"string","description":"An optional pattern that filters the result"}},"limit":{{"type":"integer","description":"At most this many lines"}}}},"required":["path"]}}}}"#
            )
        })
        .collect();
    let history = "Please look at the failing test in tests/e2e and explain what goes wrong, then propose a fix. ".repeat(12);
    format!(
        r#"{{"model":"m","max_tokens":1024,"system":[{{"type":"text","text":"You are a coding agent working in a Rust repository. Use the tools to inspect files before answering."}}],"tools":[{}],"tool_choice":{{"type":"auto"}},"messages":[{{"role":"user","content":"{history}"}},{{"role":"assistant","content":[{{"type":"text","text":"I will read the test first."}},{{"type":"tool_use","id":"toolu_01A","name":"read_file","input":{{"path":"tests/e2e/streams.rs"}}}}]}},{{"role":"user","content":[{{"type":"tool_result","tool_use_id":"toolu_01A","content":"fn a_stream_is_relayed() {{ assert_eq!(events, expected); }}"}}]}}]}}"#,
        tools.join(",")
    )
}

/// The same request in OpenAI's dialect, for llmgate's pass-through path.
fn chat_with_tools() -> String {
    let tools: Vec<String> = ["read_file", "write_file", "list_directory", "run_command", "search_code"]
        .iter()
        .map(|name| {
            format!(
                r#"{{"type":"function","function":{{"name":"{name}","description":"{name} on the user's workspace. Paths are relative to the repository root; the result is returned as text and truncated past 64 KiB.","parameters":{{"type":"object","properties":{{"path":{{"type":"string","description":"A path relative to the repository root"}},"pattern":{{"type":"string","description":"An optional pattern that filters the result"}},"limit":{{"type":"integer","description":"At most this many lines"}}}},"required":["path"]}}}}}}"#
            )
        })
        .collect();
    let history = "Please look at the failing test in tests/e2e and explain what goes wrong, then propose a fix. ".repeat(12);
    format!(
        r#"{{"model":"m","max_tokens":1024,"tools":[{}],"tool_choice":"auto","messages":[{{"role":"system","content":"You are a coding agent working in a Rust repository. Use the tools to inspect files before answering."}},{{"role":"user","content":"{history}"}},{{"role":"assistant","content":"I will read the test first.","tool_calls":[{{"id":"toolu_01A","type":"function","function":{{"name":"read_file","arguments":"{{\"path\":\"tests/e2e/streams.rs\"}}"}}}}]}},{{"role":"tool","tool_call_id":"toolu_01A","content":"fn a_stream_is_relayed() {{ assert_eq!(events, expected); }}"}}]}}"#,
        tools.join(",")
    )
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args = args();
    procs::raise_fd_limit();
    let dir = tempfile::tempdir().expect("temp dir");
    let up = Upstream::start().await;
    let gate = procs::llmgate(dir.path(), up.port, &procs::llmgate_binary(), "llmgate");
    // BENCH_BEFORE_BIN: an earlier build measured in the same run, as the "before" column.
    let before = std::env::var_os("BENCH_BEFORE_BIN")
        .map(|bin| procs::llmgate(dir.path(), up.port, std::path::Path::new(&bin), "before"));
    SHOW_BEFORE.store(before.is_some(), Ordering::Relaxed);
    let pingora = procs::bare_pingora(up.port);
    let nginx = procs::nginx(dir.path(), up.port);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let idle_rss = gate.rss_kib();
    let idle_rss_pingora = pingora.rss_kib();
    let idle_rss_before = before.as_ref().map_or(0, Proxy::rss_kib);

    let direct_addr = format!("127.0.0.1:{}", up.port);
    let mut targets = vec![Target {
        name: "direct",
        addr: direct_addr,
        proxy: None,
        key: None,
    }];
    if let Some(n) = &nginx {
        targets.push(Target {
            name: "nginx",
            addr: n.addr(),
            proxy: Some(n),
            key: None,
        });
    }
    targets.push(Target {
        name: "pingora",
        addr: pingora.addr(),
        proxy: Some(&pingora),
        key: None,
    });
    if let Some(b) = &before {
        targets.push(Target {
            name: "before",
            addr: b.addr(),
            proxy: Some(b),
            key: Some(CLIENT_KEY),
        });
    }
    targets.push(Target {
        name: "llmgate",
        addr: gate.addr(),
        proxy: Some(&gate),
        key: Some(CLIENT_KEY),
    });

    if let Some(only) = &args.only {
        // `--only llmgate` keeps the "before" build too.
        targets.retain(|t| {
            t.name == "direct" || t.name == only || (only == "llmgate" && t.name == "before")
        });
    }
    println!(
        "llmgate bench: {} s per run, {} repetitions (medians), one worker per proxy, loopback, {} CPUs{}",
        args.secs,
        args.reps,
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        if nginx.is_none() {
            "; nginx not installed"
        } else {
            ""
        }
    );

    // Warm every path: connection pools, caches, the allocator's arenas.
    for t in &targets {
        let _ = load::closed_loop(
            &t.addr,
            request("/v1/chat/completions", CHAT, t.key),
            8,
            0.3,
        )
        .await;
    }

    if args.section("requests") || args.section("max") {
        requests(&targets, &args).await;
    }
    if args.section("agent") {
        agent_step(&targets, &args).await;
    }
    if args.section("streams") {
        streams(&targets, &args, &up).await;
    }
    if args.section("memory") {
        memory(&targets, &args, &up).await;
    }
    let started = Instant::now();
    // Long enough for llmgate's periodic memory trim (src/memory.rs) to have run.
    tokio::time::sleep(Duration::from_secs(12)).await;
    println!(
        "  idle RSS: llmgate {} KiB at start, {} KiB {:.0} s after the last burst; bare pingora {} KiB at start",
        idle_rss,
        gate.rss_kib(),
        started.elapsed().as_secs_f64(),
        idle_rss_pingora
    );
    if let Some(b) = &before {
        println!(
            "  idle RSS: before {} KiB at start, {} KiB after the last burst",
            idle_rss_before,
            b.rss_kib()
        );
    }
}

async fn requests(targets: &[Target<'_>], args: &Args) {
    // 1. Requests: max load, then fixed rates.
    let mut fig = Figures::default();
    for rep in 0..args.reps {
        for t in rotated(targets, rep) {
            let req = request("/v1/chat/completions", CHAT, t.key);
            let (run, cpu) = accounted(t, load::closed_loop(&t.addr, req, 64, args.secs)).await;
            record_requests(&mut fig, t.name, "max", &run, cpu);
            if !args.section("requests") {
                // `--section max`: the closed loop alone, e.g. for instruction counts.
                continue;
            }
            for (rate, label) in [(500.0, "r500"), (2000.0, "r2000")] {
                let req = request("/v1/chat/completions", CHAT, t.key);
                let (run, cpu) = accounted(t, load::open_loop(&t.addr, req, rate, args.secs)).await;
                record_requests(&mut fig, t.name, label, &run, cpu);
            }
        }
    }
    for t in targets {
        for label in ["r500", "r2000"] {
            for (q, name) in [("p50", "p50"), ("p99", "p99")] {
                let added = fig.get(t.name, &key(label, q)) - fig.get("direct", &key(label, q));
                fig.add(t.name, key(label, &format!("+{name}")), added);
            }
        }
        let ratio = fig.get(t.name, "max/rps") / fig.get("direct", "max/rps");
        fig.add(t.name, "max/ratio".into(), ratio);
    }
    print_header("chat completion, 190 B request / 480 B answer");
    print_row(&fig, "max throughput (c=64), req/s", "max/rps", 0);
    print_row(&fig, "  vs direct", "max/ratio", 2);
    print_row(&fig, "CPU per request at max load, µs", "max/cpu", 1);
    print_row(&fig, "CPU per request at 500 req/s, µs", "r500/cpu", 1);
    print_row(&fig, "CPU per request at 2000 req/s, µs", "r2000/cpu", 1);
    print_row(&fig, "p50 at 500 req/s, ms", "r500/p50", 3);
    print_row(&fig, "p99 at 500 req/s, ms", "r500/p99", 3);
    print_row(&fig, "added p50 at 2000 req/s, ms", "r2000/+p50", 3);
    print_row(&fig, "added p99 at 2000 req/s, ms", "r2000/+p99", 3);
}

async fn agent_step(targets: &[Target<'_>], args: &Args) {
    // 2. The 4 KiB agent step: translated by llmgate, passed through by the others.
    let messages = messages_with_tools();
    let chat_tools = chat_with_tools();
    let mut fig = Figures::default();
    for rep in 0..args.reps {
        for t in rotated(targets, rep) {
            let req = request("/v1/messages", &messages, t.key);
            let (run, cpu) = accounted(t, load::closed_loop(&t.addr, req, 16, args.secs)).await;
            record_requests(&mut fig, t.name, "msg", &run, cpu);
            if gateways().contains(&t.name) {
                let req = request("/v1/chat/completions", &chat_tools, t.key);
                let (run, cpu) = accounted(t, load::closed_loop(&t.addr, req, 16, args.secs)).await;
                record_requests(&mut fig, t.name, "chat4k", &run, cpu);
            }
        }
    }
    print_header(&format!(
        "agent step: {} B /v1/messages with 5 tools (llmgate translates; others pass through), c=16",
        messages.len()
    ));
    print_row(&fig, "req/s", "msg/rps", 0);
    print_row(&fig, "CPU per request, µs", "msg/cpu", 1);
    for g in gateways() {
        println!(
            "  {g} pass-through of the same request as OpenAI chat ({} B): {:.1} µs CPU; translated / pass-through = {:.2}x",
            chat_tools.len(),
            fig.get(g, "chat4k/cpu"),
            fig.get(g, "msg/cpu") / fig.get(g, "chat4k/cpu")
        );
    }
}

async fn streams(targets: &[Target<'_>], args: &Args, up: &Upstream) {
    // 3. Streams: CPU per token, time to first token and between tokens.
    up.tokens.store(64, Ordering::SeqCst);
    up.itl_us.store(2_000, Ordering::SeqCst);
    let mut fig = Figures::default();
    // Per llmgate build: first-token times of chat pass-through and translated streams.
    let mut ttft: std::collections::BTreeMap<&str, (Vec<u32>, Vec<u32>)> = Default::default();
    for rep in 0..args.reps {
        for t in rotated(targets, rep) {
            let req = request("/v1/chat/completions", CHAT_STREAM, t.key);
            let (run, cpu) = accounted(t, load::streams(&t.addr, req, 32, args.secs)).await;
            record_streams(&mut fig, t.name, "chat", &run, cpu);
            if gateways().contains(&t.name) {
                ttft.entry(t.name).or_default().0.extend(&run.ttft_us);
                let req = request("/v1/messages", MESSAGES_STREAM, t.key);
                let (run, cpu) = accounted(t, load::streams(&t.addr, req, 32, args.secs)).await;
                ttft.entry(t.name).or_default().1.extend(&run.ttft_us);
                record_streams(&mut fig, t.name, "translated", &run, cpu);
            }
        }
    }
    print_header("streams: 64 tokens 2 ms apart, 32 at once");
    print_row(&fig, "CPU per token, µs", "chat/cpu_token", 2);
    print_row(&fig, "TTFT p50, ms", "chat/ttft50", 2);
    print_row(&fig, "TTFT p99, ms", "chat/ttft99", 2);
    print_row(&fig, "ITL p50, ms", "chat/itl50", 2);
    print_row(&fig, "ITL p99, ms", "chat/itl99", 2);
    for (g, (chat, translated)) in &mut ttft {
        chat.sort_unstable();
        translated.sort_unstable();
        println!(
            "  {g} /v1/messages translated: CPU per token {:.2} µs; TTFT p50 {:.2} ms, p99 {:.2} ms (pass-through p99 {:.2} ms: {:+.2} ms); ITL p99 {:.2} ms; {} streams",
            fig.get(g, "translated/cpu_token"),
            quantile(translated, 0.5) as f64 / 1e3,
            quantile(translated, 0.99) as f64 / 1e3,
            quantile(chat, 0.99) as f64 / 1e3,
            (quantile(translated, 0.99) as f64 - quantile(chat, 0.99) as f64) / 1e3,
            fig.get(g, "translated/itl99"),
            translated.len(),
        );
        // "First token one gap late": the share of streams whose first token came at
        // least one inter-token gap (2 ms) after the pass-through median, on each path.
        let late_after = quantile(chat, 0.5) + 2_000;
        let late = |ttft: &[u32]| {
            100.0 * ttft.iter().filter(|t| **t >= late_after).count() as f64
                / ttft.len().max(1) as f64
        };
        println!(
            "  {g}: first token one gap (2 ms) or more after the pass-through median: pass-through {:.2}% of streams, translated {:.2}%",
            late(chat),
            late(translated),
        );
    }
}

async fn memory(targets: &[Target<'_>], args: &Args, up: &Upstream) {
    // 4. Memory: thousands of streams open at once, then the burst is over.
    println!("\nmemory: {} streams held open at once", args.open_streams);
    for t in targets.iter().filter(|t| t.proxy.is_some()) {
        let proxy = t.proxy.expect("proxy");
        let paths: &[(&str, &str)] = if gateways().contains(&t.name) {
            &[
                ("/v1/chat/completions", CHAT_STREAM),
                ("/v1/messages", MESSAGES_STREAM),
            ]
        } else {
            &[("/v1/chat/completions", CHAT_STREAM)]
        };
        for (path, body) in paths {
            tokio::time::sleep(Duration::from_millis(300)).await;
            let before = proxy.rss_kib();
            up.set_hold(true);
            let (open, tasks) =
                load::hold_streams(&t.addr, request(path, body, t.key), args.open_streams).await;
            // BENCH_HOLD_SECS keeps them open longer, e.g. for a heap snapshot.
            let hold = std::env::var("BENCH_HOLD_SECS")
                .ok()
                .and_then(|s| s.parse().ok())
                .unwrap_or(0.3);
            tokio::time::sleep(Duration::from_secs_f64(hold)).await;
            let during = proxy.rss_kib();
            up.set_hold(false);
            for task in tasks {
                let _ = task.await;
            }
            println!(
                "  {:<8} {:<22} {open} open: RSS {} → {} KiB, {:.1} KiB per open stream",
                t.name,
                path,
                before,
                during,
                (during.saturating_sub(before)) as f64 / open.max(1) as f64
            );
        }
    }
}

/// The targets in a different order each repetition, so none always runs first.
fn rotated<'t, 'a>(targets: &'t [Target<'a>], rep: usize) -> Vec<&'t Target<'a>> {
    let n = targets.len();
    (0..n).map(|i| &targets[(i + rep) % n]).collect()
}

fn key(scenario: &str, figure: &str) -> String {
    format!("{scenario}/{figure}")
}

fn record_requests(
    fig: &mut Figures,
    target: &'static str,
    scenario: &str,
    run: &Run,
    cpu_ns: u64,
) {
    fig.add(target, key(scenario, "rps"), run.per_second());
    fig.add(target, key(scenario, "p50"), run.quantile_ms(0.5));
    fig.add(target, key(scenario, "p99"), run.quantile_ms(0.99));
    if target != "direct" && run.count > 0 {
        fig.add(
            target,
            key(scenario, "cpu"),
            cpu_ns as f64 / 1e3 / run.count as f64,
        );
    }
}

fn record_streams(
    fig: &mut Figures,
    target: &'static str,
    scenario: &str,
    run: &StreamRun,
    cpu_ns: u64,
) {
    let ms = |v: &[u32], q| quantile(v, q) as f64 / 1e3;
    fig.add(target, key(scenario, "ttft50"), ms(&run.ttft_us, 0.5));
    fig.add(target, key(scenario, "ttft99"), ms(&run.ttft_us, 0.99));
    fig.add(target, key(scenario, "itl50"), ms(&run.itl_us, 0.5));
    fig.add(target, key(scenario, "itl99"), ms(&run.itl_us, 0.99));
    if target != "direct" && run.tokens > 0 {
        fig.add(
            target,
            key(scenario, "cpu_token"),
            cpu_ns as f64 / 1e3 / run.tokens as f64,
        );
    }
}
