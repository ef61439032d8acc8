//! Faults made to happen in DynamoDB clients: calls that fail before they are sent or after
//! DynamoDB acted, another process's work landing between a caller's reads and its write (in S3
//! too: before an object is written), and a process killed part-way. Each is an SDK interceptor
//! on the client under test.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsInput;
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::{
    BeforeDeserializationInterceptorContextRef, BeforeSerializationInterceptorContextRef,
    BeforeTransmitInterceptorContextRef,
};
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;
use brain2_shared::events::{CONNECT_NODE_SOURCE, Publisher};
use brain2_shared::memory::MemoryStore;

use super::{KEYWORD_INDEX, World};

/// A small deterministic generator (xorshift): the schedule of operations and faults.
#[derive(Debug)]
pub struct Dice(AtomicU64);

impl Dice {
    pub fn new(seed: u64) -> Self {
        Dice(AtomicU64::new(seed))
    }
    pub fn roll(&self, sides: u64) -> u64 {
        let mut x = self.0.load(Ordering::Relaxed);
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0.store(x, Ordering::Relaxed);
        x % sides
    }
}

/// Fails a share of DynamoDB's write calls: before sending (nothing happened) or after the
/// response came back (the write happened, the caller hears it failed).
#[derive(Debug)]
pub struct FaultInjector {
    pub dice: Dice,
    pub percent: u64,
    pub before: AtomicUsize,
    pub after: AtomicUsize,
    pub calls: AtomicUsize,
}

const WRITES: &[&str] = &["TransactWriteItems", "BatchWriteItem", "UpdateItem", "DeleteItem", "PutItem"];

impl FaultInjector {
    pub fn new(seed: u64, percent: u64) -> Self {
        FaultInjector {
            dice: Dice::new(seed),
            percent,
            before: AtomicUsize::new(0),
            after: AtomicUsize::new(0),
            calls: AtomicUsize::new(0),
        }
    }

    fn strikes(&self, cfg: &ConfigBag) -> bool {
        let write = cfg.load::<Metadata>().is_some_and(|m| WRITES.contains(&m.name()));
        write && self.dice.roll(100) < self.percent
    }
}

#[derive(Debug, Clone)]
pub struct Faults(pub Arc<FaultInjector>);

impl Intercept for Faults {
    fn name(&self) -> &'static str {
        "FaultInjector"
    }
    fn read_before_transmit(
        &self,
        _context: &BeforeTransmitInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        self.0.calls.fetch_add(1, Ordering::Relaxed);
        if self.0.strikes(cfg) {
            self.0.before.fetch_add(1, Ordering::Relaxed);
            return Err("injected fault: the call was not sent".into());
        }
        Ok(())
    }
    fn read_after_transmit(
        &self,
        _context: &BeforeDeserializationInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if self.0.strikes(cfg) {
            self.0.after.fetch_add(1, Ordering::Relaxed);
            return Err("injected fault: the call was carried out but its answer was lost".into());
        }
        Ok(())
    }
}

/// Work of another process, run to its end on a thread of its own.
pub type Work = Box<dyn FnOnce() + Send>;

/// Which work, if any, lands before a transaction.
pub type Picker = dyn Fn(&TransactWriteItemsInput) -> Option<Work> + Send + Sync;

/// Before each TransactWriteItems of a client, asks whether another process's work lands there,
/// between the caller's reads and its write, and runs that work to its end first.
#[derive(Clone)]
pub struct Interleave(pub Arc<Picker>);

impl Interleave {
    /// `work`, once, before the first transaction `when` picks.
    pub fn once(when: fn(&TransactWriteItemsInput) -> bool, work: Work) -> Self {
        let work = Mutex::new(Some(work));
        Interleave(Arc::new(move |input| if when(input) { work.lock().unwrap().take() } else { None }))
    }
}

impl std::fmt::Debug for Interleave {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Interleave")
    }
}

impl Intercept for Interleave {
    fn name(&self) -> &'static str {
        "Interleave"
    }
    fn read_before_execution(
        &self,
        context: &BeforeSerializationInterceptorContextRef<'_>,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if let Some(work) = context.input().downcast_ref::<TransactWriteItemsInput>().and_then(|input| (self.0)(input))
        {
            std::thread::scope(|scope| scope.spawn(work).join()).expect("the interleaved work ran");
        }
        Ok(())
    }
}

/// Before the first PutObject of an S3 client, runs another process's work to its end.
#[derive(Clone)]
pub struct BeforePut(Arc<Mutex<Option<Work>>>);

impl BeforePut {
    pub fn once(work: Work) -> Self {
        BeforePut(Arc::new(Mutex::new(Some(work))))
    }
}

impl std::fmt::Debug for BeforePut {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BeforePut")
    }
}

impl Intercept for BeforePut {
    fn name(&self) -> &'static str {
        "BeforePut"
    }
    fn read_before_execution(
        &self,
        context: &BeforeSerializationInterceptorContextRef<'_>,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if context.input().downcast_ref::<aws_sdk_s3::operation::put_object::PutObjectInput>().is_some()
            && let Some(work) = self.0.lock().unwrap().take()
        {
            std::thread::scope(|scope| scope.spawn(work).join()).expect("the interleaved work ran");
        }
        Ok(())
    }
}

/// S3 stores each PutObject, and its answer is lost on the way back: the caller hears a failure.
#[derive(Debug, Clone, Default)]
pub struct PutAnswerLost(pub Arc<AtomicUsize>);

impl Intercept for PutAnswerLost {
    fn name(&self) -> &'static str {
        "PutAnswerLost"
    }
    fn read_before_deserialization(
        &self,
        _context: &BeforeDeserializationInterceptorContextRef<'_>,
        _: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if cfg.load::<Metadata>().is_some_and(|m| m.name() == "PutObject") {
            self.0.fetch_add(1, Ordering::Relaxed);
            return Err("the answer to PutObject was lost (a fault made to happen)".into());
        }
        Ok(())
    }
}

/// What another process works with: its own clients, to the same table and bus.
pub struct Elsewhere {
    pub store: MemoryStore,
    pub connect: connect_node::ConnectNode,
}

/// Where another process's clients go.
#[derive(Debug, Clone)]
pub struct Place {
    pub table: String,
    pub bus: String,
    pub max_edges: usize,
}

impl Place {
    pub fn of(world: &World, max_edges: usize) -> Self {
        Place { table: world.memory_table.clone(), bus: world.bus.clone(), max_edges }
    }

    /// `work` as another process would do it, for [`Interleave`]: on its own runtime with its own
    /// clients (a client's pooled connections belong to the runtime that opened them, and the
    /// caller's is blocked meanwhile).
    pub fn elsewhere<F, Fut>(&self, work: F) -> Work
    where
        F: FnOnce(Elsewhere) -> Fut + Send + 'static,
        Fut: std::future::Future<Output = ()>,
    {
        let place = self.clone();
        Box::new(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            let sdk = super::sdk(&super::moto::moto().endpoint);
            let dynamodb = super::dynamodb_config(&sdk).build();
            let store = MemoryStore::new(aws_sdk_dynamodb::Client::from_conf(dynamodb), &place.table, KEYWORD_INDEX);
            let connect = connect_node::ConnectNode {
                store: store.clone(),
                publisher: Publisher::new(aws_sdk_eventbridge::Client::new(&sdk), &place.bus, CONNECT_NODE_SOURCE),
                min_shared_keywords: 1,
                max_edges_per_node: place.max_edges,
            };
            runtime.block_on(work(Elsewhere { store, connect }));
        })
    }
}

/// A process killed part-way: its first `writes` write calls go out, and every call after them
/// fails unsent.
#[derive(Debug)]
pub struct Killed {
    writes_left: AtomicUsize,
    dead: std::sync::atomic::AtomicBool,
}

impl Killed {
    pub fn after_writes(writes: usize) -> Self {
        Killed { writes_left: AtomicUsize::new(writes), dead: std::sync::atomic::AtomicBool::new(false) }
    }
}

impl Intercept for Killed {
    fn name(&self) -> &'static str {
        "Killed"
    }
    fn read_before_transmit(
        &self,
        _context: &BeforeTransmitInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let killed = || Err("injected fault: the process was killed".into());
        if self.dead.load(Ordering::SeqCst) {
            return killed();
        }
        if cfg.load::<Metadata>().is_some_and(|m| WRITES.contains(&m.name())) {
            let left = self.writes_left.load(Ordering::SeqCst);
            if left == 0 {
                self.dead.store(true, Ordering::SeqCst);
                return killed();
            }
            self.writes_left.store(left - 1, Ordering::SeqCst);
            // The last write allowed goes out; the process dies right after it.
            self.dead.store(left == 1, Ordering::SeqCst);
        }
        Ok(())
    }
}

/// DynamoDB answers BatchGetItem in part, as it does when throttled: of each answer it keeps the
/// first item and hands the rest back as `UnprocessedKeys`, `times` times (every time when
/// `usize::MAX`). Counts the answers it cut.
#[derive(Debug, Clone)]
pub struct BatchGetInPart {
    pub times: usize,
    pub cut: Arc<AtomicUsize>,
}

impl Intercept for BatchGetInPart {
    fn name(&self) -> &'static str {
        "BatchGetInPart"
    }
    fn modify_before_completion(
        &self,
        context: &mut aws_smithy_runtime_api::client::interceptors::context::FinalizerInterceptorContextMut<'_>,
        _: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        use aws_sdk_dynamodb::operation::batch_get_item::BatchGetItemOutput;
        use aws_sdk_dynamodb::types::KeysAndAttributes;
        if cfg.load::<Metadata>().is_none_or(|m| m.name() != "BatchGetItem") {
            return Ok(());
        }
        let Some(Ok(output)) = context.output_or_error_mut() else { return Ok(()) };
        let Some(output) = output.downcast_mut::<BatchGetItemOutput>() else { return Ok(()) };
        let mut unprocessed = std::collections::HashMap::new();
        for (table, items) in output.responses.iter_mut().flatten() {
            if items.len() < 2 || self.cut.load(Ordering::Relaxed) >= self.times {
                continue;
            }
            self.cut.fetch_add(1, Ordering::Relaxed);
            let keys = items
                .split_off(1)
                .into_iter()
                .map(|item| item.into_iter().filter(|(name, _)| name == "id" || name == "sk").collect())
                .collect();
            let request = KeysAndAttributes::builder().set_keys(Some(keys)).consistent_read(true).build()?;
            unprocessed.insert(table.clone(), request);
        }
        if !unprocessed.is_empty() {
            output.unprocessed_keys = Some(unprocessed);
        }
        Ok(())
    }
}
