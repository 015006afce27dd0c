//! End-to-end tests: one binary (linking Pingora once), one module per area.

mod harness;

mod anthropic;
mod anthropic_errors;
mod anthropic_upstream;
mod auth_limits;
mod azure;
mod edge_tls;
mod example_files;
mod failing_backends;
mod hostile_clients;
mod inference_metrics;
mod local_endpoints;
mod model_list;
mod openai_passthrough;
mod passthrough_routes;
mod provider_sdks;
mod reload;
mod retries;
mod routing_failover;
mod sdk;
mod soak;
mod stream_errors;
mod token_limits;
mod total_timeout;
