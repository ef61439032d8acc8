//! The Brain2 infrastructure: four stacks per environment.
//!
//! - `database`: the two tables, and nothing else, so that stateful resources change rarely;
//! - `compute`: the event bus and its rules, the six functions, the WebSocket API and, where the
//!   environment asks, the private network they run in;
//! - `api`: the HTTP API in front of the backend, and monitoring;
//! - `frontend`: the site bucket and its CloudFront distribution, independent of the others;
//!
//! and the toolkit stacks bootstrap creates: one per environment, one per account and region. [`synth`] turns them into
//! checked templates.

mod api;
mod compute;
pub mod database;
mod frontend;
mod monitoring;
mod network;
mod toolkit;

pub mod synth;

use brain2_iac::cfn::{App, Result};
use brain2_iac::config::EnvironmentConfig;

pub use compute::Compute;
pub use database::Database;
pub use toolkit::{
    ASSET_EXPIRY_DAYS, ASSETS_BUCKET_OUTPUT, FUNCTIONS_PREFIX, HOTSWAPS_PREFIX, REGION_SCOPE, RELEASE_STATE_TAG,
    RELEASES_PREFIX, RETIRED, TEMPLATES_PREFIX, TOOLKIT_STACK, region_toolkit_app, toolkit_app,
};

/// The app's name: the first part of every stack, export and physical name.
pub const APP_NAME: &str = "brain2";

/// The stacks' short names, in the order they are added.
pub const STACKS: &[&str] = &["database", "compute", "api", "frontend"];

/// Builds the four stacks of one environment.
pub fn brain2_app(environment: &str, config: &EnvironmentConfig) -> Result<App> {
    let mut app = App::new(APP_NAME, environment)?;
    let database_stack = app.add_stack("database", &format!("Brain2 {environment}: tables (stateful)"))?;
    let compute_stack =
        app.add_stack("compute", &format!("Brain2 {environment}: functions, events and WebSocket API"))?;
    let api_stack = app.add_stack("api", &format!("Brain2 {environment}: HTTP API and monitoring"))?;
    let frontend_stack = app.add_stack("frontend", &format!("Brain2 {environment}: site bucket and CloudFront"))?;
    for stack in app.stack_ids().collect::<Vec<_>>() {
        app.add_stack_tag(stack, "app", APP_NAME);
        app.add_stack_tag(stack, "environment", environment);
    }
    // The frontend references nothing in the other stacks, so it can live in another region.
    // The api stack takes the site's origin from it as a parameter (exports do not cross
    // regions), so it comes after it.
    app.set_stack_region(frontend_stack, &config.frontend_region);

    let database = database::build(&mut app, database_stack, config)?;
    let compute = compute::build(&mut app, compute_stack, config, &database)?;
    let http = api::build(&mut app, api_stack, config, &compute, frontend_stack)?;
    if config.monitoring.enabled {
        monitoring::build(&mut app, api_stack, environment, config, &database, &compute, &http)?;
    }
    frontend::build(&mut app, frontend_stack, config)?;
    Ok(app)
}
