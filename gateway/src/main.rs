//! `gateway`: see `gateway --help`.

use anyhow::Context;
use clap::Parser;
use gateway::Config;
use tracing_subscriber::EnvFilter;

// Every request allocates (body, JSON, headers, futures) on whichever worker
// thread runs it and frees on another: under single-order load glibc's
// malloc spent a fifth of the gateway's CPU in its arenas' locks and
// consolidation. mimalloc keeps per-thread heaps.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| EnvFilter::new("info,rdkafka=warn")),
        )
        .init();
    let config = Config::parse();
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.listen))?;
    let addr = listener.local_addr()?;
    // One plain line on stdout, for people and for scripts that start the gateway.
    println!("gateway listening on http://{addr}");
    gateway::run(listener, config, gateway::shutdown::signal()).await?;
    Ok(())
}
