//! The `llmgate` binary: arguments, configuration, logging, then the server. All logic is
//! in the library.

use std::process::ExitCode;

use clap::Parser;
use llmgate::cli::{Cli, Command};
use llmgate::config::{Config, ConfigSource, Overrides};
use llmgate::{BuildOptions, logging, server};

/// mimalloc instead of glibc malloc. Measured by `make bench` (docs/performance.md): the
/// same CPU per proxied request or less, and 30% less per translated `/v1/messages`
/// (translation allocates a `serde_json::Value` tree per request, where glibc spent a
/// quarter of the CPU in malloc and free).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

unsafe extern "C" {
    /// mimalloc's `mi_option_set` (mimalloc.h); the crate's `extended` feature lacks the
    /// v3 option names.
    fn mi_option_set(option: std::ffi::c_int, value: std::ffi::c_long);
}
/// `mi_option_purge_delay` in v3's `mi_option_e`.
const MI_OPTION_PURGE_DELAY: std::ffi::c_int = 15;

/// Free memory goes back to the system at once (the default waits 10 ms, and arenas
/// ten times that), so RSS returns near idle after a burst. Transparent huge pages are
/// off at build time (`no_thp`): with them an open stream cost 122 KiB of RSS instead of
/// ~60 and idle RSS was 27 MB instead of 13.
fn tune_allocator() {
    // SAFETY: setting an allocator option, as documented, before the server starts.
    unsafe {
        mi_option_set(MI_OPTION_PURGE_DELAY, 0);
    }
}

/// `EX_USAGE` from sysexits.h: the configuration is wrong.
const EXIT_CONFIG: u8 = 64;

fn main() -> ExitCode {
    // Pingora has no SIGHUP handler and the default action kills the process; ignore it
    // until the reload service installs ours.
    // SAFETY: setting a signal disposition to SIG_IGN before any thread is started.
    unsafe {
        libc::signal(libc::SIGHUP, libc::SIG_IGN);
    }
    tune_allocator();
    let cli = Cli::parse();
    if let Some(Command::HashKey) = cli.command {
        return match llmgate::cli::hash_key(std::io::stdin()) {
            Ok(line) => {
                println!("{line}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("llmgate: {e}");
                ExitCode::from(EXIT_CONFIG)
            }
        };
    }
    let source = cli
        .config
        .clone()
        .map_or(ConfigSource::Environment, ConfigSource::File);
    let overrides = Overrides {
        host: cli.host.clone(),
        port: cli.port,
    };
    let mut config = match Config::load(&source) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("invalid configuration:");
            for line in e.lines() {
                eprintln!("  {line}");
            }
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    overrides.apply(&mut config);
    if cli.check {
        println!("configuration OK ({})", config.format);
        return ExitCode::SUCCESS;
    }

    let level = if cli.verbose {
        log::LevelFilter::Debug
    } else {
        logging::level_filter(config.logging.level)
    };
    if let Err(e) = logging::init(level, config.logging.json) {
        eprintln!("llmgate: cannot initialise logging: {e}");
    }
    // Dropped on every way out of `main`: log lines still in memory are written.
    let _flush_logs = logging::FlushOnExit;
    logging::install_panic_hook();
    if config.keys.is_empty() {
        log::warn!(target: "llmgate::server",
            "NO API KEYS CONFIGURED: authentication is OFF and anyone who can reach {} can use every model",
            config.server.listen_addr());
    }
    log::info!(target: "llmgate::server", "llmgate {} listening on {}://{} ({} backend(s), {} model(s), client key {}, config: {source}, {})",
        env!("CARGO_PKG_VERSION"), if config.server.tls.is_some() { "https" } else { "http" }, config.server.listen_addr(),
        config.backends.len(), config.models.len(),
        if config.keys.is_empty() { "not required" } else { "required" }, config.format);

    let built = llmgate::build_server(
        config,
        BuildOptions {
            overrides,
            ..BuildOptions::default()
        },
    );
    let (server, handle) = match built {
        Ok(built) => built,
        Err(e) => {
            log::error!(target: "llmgate::server", "cannot start: {e}");
            return ExitCode::from(1);
        }
    };
    server::run(server, &handle);
    ExitCode::SUCCESS
}
