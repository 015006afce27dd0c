//! The `llmgate` binary: arguments, configuration, logging, then the server. All logic is
//! in the library.

use std::process::ExitCode;

use clap::Parser;
use llmgate::cli::{Cli, Command};
use llmgate::config::{Config, ConfigSource, Overrides};
use llmgate::{BuildOptions, logging, server};

/// Returns glibc's free heap pages to the system (see `llmgate::memory`): without it, RSS
/// stays at its peak after a burst of streams.
fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only walks and trims the allocator's own free lists.
    unsafe {
        libc::malloc_trim(0);
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
            release_free_memory: Some(release_free_memory),
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
