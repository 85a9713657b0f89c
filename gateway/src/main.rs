//! `gateway`: see `gateway --help`.

use std::time::Duration;

use anyhow::Context;
use gateway::Config;
use gateway::config::LogFormat;
use tracing_subscriber::EnvFilter;

// Every request allocates (body, JSON, headers, futures) on whichever worker
// thread runs it and frees on another: under single-order load glibc's
// malloc spent a fifth of the gateway's CPU in its arenas' locks and
// consolidation. mimalloc keeps per-thread heaps.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// What the process waits, after the gateway stopped, for librdkafka calls
/// still blocking a thread (a commit or a close to a broker that does not
/// answer) before it exits without them.
const EXIT_GRACE: Duration = Duration::from_secs(1);

fn main() -> anyhow::Result<std::process::ExitCode> {
    // The same executable runs live filters in worker processes.
    if std::env::var_os(gateway::core::filter::WORKER_ENV).is_some() {
        return Ok(gateway::core::filter::serve_worker());
    }
    let (config, warnings) = Config::load()?;
    let filter = || {
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,rdkafka=warn"))
    };
    match config.log_format {
        LogFormat::Text => tracing_subscriber::fmt().with_env_filter(filter()).init(),
        LogFormat::Json => tracing_subscriber::fmt()
            .json()
            .with_env_filter(filter())
            .init(),
    }
    for warning in warnings {
        tracing::warn!("{warning}");
    }
    // Built by hand rather than with #[tokio::main], whose runtime waits
    // without limit for blocking tasks when it is dropped: with a broker
    // that hangs, that was how stopping took minutes.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let served = runtime.block_on(serve(config));
    runtime.shutdown_timeout(EXIT_GRACE);
    served.map(|()| std::process::ExitCode::SUCCESS)
}

async fn serve(config: Config) -> anyhow::Result<()> {
    // Refused before binding, so that nothing listens even for a moment.
    if let Some(refused) = config.open_writes_refused(config.listen) {
        return Err(refused.into());
    }
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.listen))?;
    let addr = listener.local_addr()?;
    // One plain line on stdout, for people and for scripts that start the gateway.
    println!("gateway listening on http://{addr}");
    gateway::run(listener, config, gateway::shutdown::signal()).await?;
    Ok(())
}
