//! The database stack: MemoryTable and ConnectionsTable.

use brain2_iac::cfn::{App, Result, StackId};
use brain2_iac::config::EnvironmentConfig;
use brain2_iac::constructs::table::TableEncryption;
use brain2_iac::constructs::{EncryptionKey, GlobalIndex, IndexProjection, Key, Table, TableProps};

/// The tables, for the other stacks to wire and grant.
#[derive(Debug, Clone)]
pub struct Database {
    /// Nodes, edges and keyword postings, one partition per user (`id = USER#<userId>`).
    pub memory: Table,
    /// Open WebSocket connections, expiring through TTL.
    pub connections: Table,
}

pub const KEYWORD_INDEX: &str = "KeywordIndex";
/// Search's index: each user's postings in keyword order (brain2-shared's `search`).
pub const SEARCH_INDEX: &str = "UserKeywordIndex";
pub const CONNECTION_INDEX: &str = "connection-id-index";

fn props(config: &EnvironmentConfig, key: Option<&EncryptionKey>, partition_key: Key) -> TableProps {
    let mut props = TableProps::new(partition_key);
    if let Some(key) = key {
        props.encryption = TableEncryption::CustomerManagedKey(key.arn().into());
    }
    props.point_in_time_recovery = config.data.point_in_time_recovery;
    props.deletion_protection = config.data.table_deletion_protection;
    props.removal_policy = config.data.removal_policy.policy();
    props
}

pub(super) fn build(app: &mut App, stack: StackId, config: &EnvironmentConfig) -> Result<Database> {
    // The tables' own key, retained with them: a deleted key would leave retained data unreadable.
    let key = if config.encryption.customer_managed_keys {
        let description = format!("Brain2 {}: encrypts the tables", app.environment());
        Some(EncryptionKey::new(app, stack, "DataKey", &description, config.data.removal_policy.policy())?)
    } else {
        None
    };
    let mut memory = props(config, key.as_ref(), Key::string("id"));
    memory.sort_key = Some(Key::string("sk"));
    // Sparse: only keyword postings carry `keyword = <userId>#<keyword>`. Keys are enough for
    // connect-node, which reads the node id from the posting's sort key.
    memory.global_indexes.push(GlobalIndex {
        name: KEYWORD_INDEX.to_owned(),
        partition_key: Key::string("keyword"),
        sort_key: None,
        projection: IndexProjection::KeysOnly,
    });
    // Sparse too, and keys only: within a user's partition, postings sorted by keyword, so a
    // search for a word and every keyword it starts is one range Query.
    memory.global_indexes.push(GlobalIndex {
        name: SEARCH_INDEX.to_owned(),
        partition_key: Key::string("id"),
        sort_key: Some(Key::string("keyword")),
        projection: IndexProjection::KeysOnly,
    });
    let memory = Table::new(app, stack, "MemoryTable", memory)?;

    let mut connections = props(config, key.as_ref(), Key::string("connectionId"));
    connections.global_indexes.push(GlobalIndex {
        name: CONNECTION_INDEX.to_owned(),
        partition_key: Key::string("userId"),
        sort_key: None,
        projection: IndexProjection::KeysOnly,
    });
    connections.time_to_live_attribute = Some("expiresAt".to_owned());
    let connections = Table::new(app, stack, "ConnectionsTable", connections)?;
    Ok(Database { memory, connections })
}
