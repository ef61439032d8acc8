use brain2_shared::config::{self, ProcessEnv};
use brain2_shared::events::{CONNECT_NODE_SOURCE, NodeChanged, Publisher};
use brain2_shared::memory::MemoryStore;
use connect_node::ConnectNode;
use lambda_runtime::{Error, LambdaEvent, service_fn};

// Lambda hands a process one event at a time: one thread serves it, and starts sooner.
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    brain2_shared::telemetry::init();
    let env = ProcessEnv;
    let table = config::required(&env, "MEMORY_TABLE_NAME")?;
    let index = config::required(&env, "KEYWORD_INDEX_NAME")?;
    let bus = config::required(&env, "EVENT_BUS_NAME")?;
    let min = config::number(&env, "MIN_SHARED_KEYWORDS", 1, 50, "a whole number from 1 to 50")?;
    let max = config::number(&env, "MAX_EDGES_PER_NODE", 1, 1_000, "a whole number from 1 to 1000")?;
    let sdk = brain2_shared::aws::sdk_config()?;
    let handler = ConnectNode {
        store: MemoryStore::new(aws_sdk_dynamodb::Client::new(&sdk), table, index),
        publisher: Publisher::new(aws_sdk_eventbridge::Client::new(&sdk), bus, CONNECT_NODE_SOURCE),
        min_shared_keywords: min as usize,
        max_edges_per_node: max as usize,
    };
    let handler = &handler;
    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<aws_lambda_events::eventbridge::EventBridgeEvent<NodeChanged>>| async move {
            brain2_shared::panic::invocation_started(&event.context.request_id);
            handler.handle(event.payload).await.map(|outcome| format!("{outcome:?}")).map_err(Error::from)
        },
    ))
    .await
}
