//! The smallest useful Lambda: lambda_runtime's hello-world, built with the functions' release
//! profile. It is never deployed; its start-up time is the floor the functions are measured
//! against, in the same run, by `cargo xtask bench cold-start`.

use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::{Value, json};

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| async move {
        Ok::<_, Error>(json!({ "hello": event.payload.get("name").cloned().unwrap_or(Value::Null) }))
    }))
    .await
}
