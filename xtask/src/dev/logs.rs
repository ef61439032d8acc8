//! The functions' logs, as they happen: CloudWatch Logs `FilterLogEvents` on each function's log
//! group, polled, and printed one readable line per event (`HH:MM:SS backend INFO message
//! key=value`). Failed invocations stand out: errors are printed even with `--quiet`.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::Result;
use brain2_iac::cfn::Synthesized;
use serde_json::Value;

use crate::aws::Aws;
use heck::ToKebabCase;

const POLL: Duration = Duration::from_millis(500);

/// The log groups of the functions, by the short name printed before each line
/// (`BackendLogs` → `backend`). Their names are generated, so they are read from the stacks.
pub async fn function_log_groups(aws: &Aws, synthesized: &Synthesized) -> Result<BTreeMap<String, String>> {
    let cfn = aws.cloudformation(None);
    let mut groups = BTreeMap::new();
    for stack in &synthesized.stacks {
        let Ok(template) = serde_json::from_str::<Value>(&stack.template) else { continue };
        let Some(resources) = template["Resources"].as_object() else { continue };
        let has_log_groups = resources.iter().any(|(id, r)| {
            r["Type"] == "AWS::Logs::LogGroup" && resources.contains_key(&function_of(id).unwrap_or_default())
        });
        if !has_log_groups {
            continue;
        }
        let described = cfn
            .describe_stack_resources()
            .stack_name(&stack.name)
            .send()
            .await
            .map_err(|e| crate::aws::errors::explain(&format!("listing the resources of {}", stack.name), e))?;
        for resource in described.stack_resources() {
            let (Some(id), Some(physical)) = (resource.logical_resource_id(), resource.physical_resource_id()) else {
                continue;
            };
            if resource.resource_type() != Some("AWS::Logs::LogGroup") {
                continue;
            }
            let Some(function) = function_of(id).filter(|f| resources.contains_key(f)) else { continue };
            let short = function.trim_end_matches("Function").to_kebab_case();
            groups.insert(short, physical.to_owned());
        }
    }
    Ok(groups)
}

/// `BackendLogs` → `BackendFunction`: the function a log group belongs to, by the constructs'
/// naming.
fn function_of(log_group_id: &str) -> Option<String> {
    log_group_id.strip_suffix("Logs").map(|prefix| format!("{prefix}Function"))
}

/// Whether a line reports a failure: an ERROR record, or the runtime's own error report.
pub fn is_failure(line: &str) -> bool {
    match serde_json::from_str::<Value>(line) {
        Ok(record) => {
            record["level"].as_str().is_some_and(|l| l.eq_ignore_ascii_case("error"))
                || record.get("errorType").is_some()
        }
        Err(_) => line.contains("errorType") || line.contains("Task timed out") || line.contains("panicked at"),
    }
}

fn text_of(value: &Value) -> String {
    value.as_str().map(str::to_owned).unwrap_or_else(|| value.to_string())
}

/// `HH:MM:SS` (UTC) of a Unix time in milliseconds, as every line dev prints starts.
pub fn clock(timestamp_ms: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(timestamp_ms.div_euclid(1000))
        .map(|t| format!("{:02}:{:02}:{:02}", t.hour(), t.minute(), t.second()))
        .unwrap_or_default()
}

/// The clock of now, for lines dev prints itself.
pub fn clock_now() -> String {
    clock((time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64)
}

/// One event made readable, or `None` for what is noise here (DEBUG and TRACE records, the
/// START and END lines; with `quiet`, everything but failures). A tracing JSON record becomes
/// `HH:MM:SS function LEVEL message key=value ...`; a REPORT line keeps only the duration.
pub fn readable(function: &str, timestamp_ms: i64, message: &str, quiet: bool) -> Option<String> {
    let message = message.trim_end();
    let failure = is_failure(message);
    if quiet && !failure {
        return None;
    }
    let time = clock(timestamp_ms);
    let suffix = if failure { "  <-- FAILED" } else { "" };
    let Ok(Value::Object(record)) = serde_json::from_str::<Value>(message) else {
        if message.starts_with("START RequestId") || message.starts_with("END RequestId") {
            return None;
        }
        if let Some(report) = message.strip_prefix("REPORT RequestId: ") {
            let duration = report.split('\t').find_map(|part| part.strip_prefix("Duration: ")).unwrap_or("?");
            return Some(format!("{time} {function:<16} done in {duration}"));
        }
        return Some(format!("{time} {function:<16} {message}{suffix}"));
    };
    let level = record.get("level").and_then(Value::as_str).unwrap_or("");
    if !failure && matches!(level, "DEBUG" | "TRACE") {
        return None;
    }
    let mut text = String::new();
    let mut fields = Vec::new();
    let mut visit = |key: &str, value: &Value| {
        if key == "message" || key == "errorMessage" {
            text = text_of(value);
        } else {
            fields.push(format!("{key}={}", text_of(value)));
        }
    };
    for (key, value) in &record {
        match key.as_str() {
            "fields" => {
                if let Value::Object(map) = value {
                    for (key, value) in map {
                        visit(key, value);
                    }
                }
            }
            "timestamp" | "level" | "target" | "span" | "spans" | "filename" | "line_number" | "threadId"
            | "threadName" => {}
            other => visit(other, value),
        }
    }
    let mut line = format!("{time} {function:<16} {level:<5} {text}");
    if !fields.is_empty() {
        line.push_str("  ");
        line.push_str(&fields.join(" "));
    }
    line.push_str(suffix);
    Some(line)
}

/// Polls every function's log group from now on and prints what arrives, until cancelled.
/// The emulator gives events no ids, so the position in a group is the newest timestamp seen
/// and how many events at that timestamp were already printed.
pub async fn tail(aws: Aws, synthesized: &Synthesized, quiet: bool) -> Result<()> {
    let groups = function_log_groups(&aws, synthesized).await?;
    let client = aws.logs();
    let start = time::OffsetDateTime::now_utc().unix_timestamp() * 1000;
    let mut position: BTreeMap<String, (i64, usize)> =
        groups.keys().map(|function| (function.clone(), (start, 0))).collect();
    loop {
        for (function, group) in &groups {
            let (from, already) = position[function];
            let mut events = Vec::new();
            let mut token: Option<String> = None;
            loop {
                let response = client
                    .filter_log_events()
                    .log_group_name(group)
                    .start_time(from)
                    .set_next_token(token.clone())
                    .send()
                    .await;
                // A group the emulator has not written yet is not an error.
                let Ok(page) = response else { break };
                events.extend(
                    page.events().iter().map(|e| (e.timestamp().unwrap_or(from), e.message().unwrap_or("").to_owned())),
                );
                token = page.next_token().map(str::to_owned);
                if token.is_none() {
                    break;
                }
            }
            events.sort_by_key(|(timestamp, _)| *timestamp);
            let mut skip = already;
            let (mut newest, mut at_newest) = (from, already);
            for (timestamp, message) in events {
                if timestamp == from && skip > 0 {
                    skip -= 1;
                    continue;
                }
                if timestamp == newest {
                    at_newest += 1;
                } else {
                    newest = timestamp;
                    at_newest = 1;
                }
                for line in message.lines().filter(|l| !l.trim().is_empty()) {
                    if let Some(text) = readable(function, timestamp, line, quiet) {
                        println!("{text}");
                    }
                }
            }
            position.insert(function.clone(), (newest, at_newest));
        }
        tokio::time::sleep(POLL).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const AT: i64 = 1_796_021_323_195;

    #[test]
    fn tracing_records_read_as_one_line() {
        let record =
            r#"{"level":"INFO","fields":{"message":"linked","node":"n1","edges":1},"spans":[{"requestId":"r"}]}"#;
        assert_eq!(
            readable("connect-node", AT, record, false).unwrap(),
            "06:48:43 connect-node     INFO  linked  node=n1 edges=1"
        );
        assert!(readable("connect-node", AT, record, true).is_none(), "quiet prints failures only");
        let debug = r#"{"level":"DEBUG","fields":{"message":"loading default partitions"}}"#;
        assert!(readable("backend", AT, debug, false).is_none());
        let error = r#"{"level":"ERROR","fields":{"message":"boom"}}"#;
        assert!(readable("backend", AT, error, true).unwrap().ends_with("<-- FAILED"));
    }

    #[test]
    fn runtime_lines_are_shortened_or_dropped() {
        assert!(readable("backend", AT, "START RequestId: r Version: 1", false).is_none());
        assert!(readable("backend", AT, "END RequestId: r", false).is_none());
        let report = "REPORT RequestId: r\tDuration: 185 ms\tBilled Duration: 185 ms";
        assert_eq!(readable("backend", AT, report, false).unwrap(), "06:48:43 backend          done in 185 ms");
        let failed = r#"{"errorType":"Runtime.ExitError","errorMessage":"exit status 101"}"#;
        let line = readable("authorizer", AT, failed, true).unwrap();
        assert!(line.contains("exit status 101") && line.ends_with("<-- FAILED"), "{line}");
    }
}
