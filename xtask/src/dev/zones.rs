//! Custom domains, rehearsed. An environment with `frontend.domain`, `api.domain` or
//! `api.webSocketDomain` names hosted zones that exist only in its AWS account. Locally, the
//! emulator's Route 53 gets stand-in zones of the same names, in a stack of their own
//! (`brain2-<env>-local-zones`, never deployed to AWS), and the local variant names their ids:
//! the certificates, API Gateway domain names and alias records the templates declare are then
//! created as they would be on AWS. The names do not resolve on this machine, so dev serves the
//! site and the client calls the APIs' own endpoints (`gaps::api_endpoints`).

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::{Context as _, Result, bail};
use brain2_iac::config::{DomainConfig, EnvironmentConfig};
use serde_json::json;

use crate::aws::Aws;
use crate::aws::stack::{Deployed, Phase, phase};

fn domains(config: &mut EnvironmentConfig) -> Vec<(&'static str, &mut DomainConfig)> {
    let mut found = Vec::new();
    if let Some(domain) = config.frontend.domain.as_mut() {
        found.push(("frontend.domain", domain));
    }
    if let Some(domain) = config.api.domain.as_mut() {
        found.push(("api.domain", domain));
    }
    if let Some(domain) = config.api.web_socket_domain.as_mut() {
        found.push(("api.webSocketDomain", domain));
    }
    found
}

/// The zones to stand in for: each real zone id with the name it is given locally (the shortest
/// domain name that uses it: `brain2.example.com` for it and `api.brain2.example.com`).
fn zones_needed(config: &mut EnvironmentConfig) -> BTreeMap<String, String> {
    let mut zones: BTreeMap<String, String> = BTreeMap::new();
    for (_, domain) in domains(config) {
        if let Some(zone) = &domain.hosted_zone_id {
            let name = zones.entry(zone.clone()).or_insert_with(|| domain.name.clone());
            if domain.name.len() < name.len() {
                *name = domain.name.clone();
            }
        }
    }
    zones
}

fn template(zones: &BTreeMap<String, String>) -> serde_json::Value {
    let mut resources = serde_json::Map::new();
    let mut outputs = serde_json::Map::new();
    for (index, (real, name)) in zones.iter().enumerate() {
        let id = format!("Zone{index}");
        resources.insert(
            id.clone(),
            json!({ "Type": "AWS::Route53::HostedZone", "Properties": {
                "Name": name,
                "HostedZoneConfig": { "Comment": format!("cargo xtask dev's stand-in for {real}") } } }),
        );
        outputs.insert(id.clone(), json!({ "Value": { "Ref": id } }));
    }
    json!({
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": "cargo xtask dev: local stand-ins for the environment's hosted zones",
        "Resources": resources,
        "Outputs": outputs,
    })
}

/// Makes (or finds) the stand-in zones and points the configuration's domains at them. Returns
/// one line per domain, for the list of what the local variant replaced.
pub async fn stand_in(aws: &Aws, environment: &str, config: &mut EnvironmentConfig) -> Result<Vec<String>> {
    let zones = zones_needed(config);
    if zones.is_empty() {
        return Ok(Vec::new());
    }
    let stack = format!("brain2-{environment}-local-zones");
    let cfn = aws.cloudformation(None);
    let wanted = template(&zones);
    let body = wanted.to_string();
    let deployed = crate::aws::stack::describe(&cfn, &stack).await?;
    // Zones of other names (a domain renamed in the environment file) are made again.
    let same = match &deployed {
        Some(found) if phase(&found.status) == Phase::Stable => {
            crate::aws::stack::template(&cfn, &stack).await.is_ok_and(|template| template == wanted)
        }
        _ => false,
    };
    let outputs =
        match deployed {
            Some(found) if same => outputs_of(&found),
            found => {
                if found.is_some() {
                    cfn.delete_stack().stack_name(&stack).send().await.map_err(|e| {
                        crate::aws::errors::explain(&format!("replacing the stand-in zones {stack}"), e)
                    })?;
                    wait(aws, &stack, true).await?;
                }
                cfn.create_stack()
                    .stack_name(&stack)
                    .template_body(body)
                    .send()
                    .await
                    .map_err(|e| crate::aws::errors::explain(&format!("creating the stand-in zones {stack}"), e))?;
                wait(aws, &stack, false).await?
            }
        };
    let local: BTreeMap<String, String> = zones
        .keys()
        .enumerate()
        .map(|(index, real)| {
            let key = format!("Zone{index}");
            let id = outputs.get(&key).with_context(|| format!("{stack} has no output {key}"))?;
            Ok((real.clone(), id.trim_start_matches("/hostedzone/").to_owned()))
        })
        .collect::<Result<_>>()?;
    let mut lines = Vec::new();
    for (setting, domain) in domains(config) {
        let Some(real) = domain.hosted_zone_id.clone() else {
            lines.push(format!(
                "{setting} {}: its certificate waits for DNS validation that no one adds locally",
                domain.name
            ));
            continue;
        };
        let id = local[&real].clone();
        lines.push(format!(
            "{setting} {}: hosted zone {real} → the emulator's stand-in {id} ({}); the name does not resolve here, so dev serves the site and the client calls the APIs' own endpoints",
            domain.name, zones[&real]
        ));
        domain.hosted_zone_id = Some(id);
    }
    Ok(lines)
}

fn outputs_of(stack: &Deployed) -> BTreeMap<String, String> {
    stack.outputs.iter().map(|output| (output.key.clone(), output.value.clone())).collect()
}

/// Waits for the stand-in stack to be created (its outputs) or deleted.
async fn wait(aws: &Aws, stack: &str, deleted: bool) -> Result<BTreeMap<String, String>> {
    let cfn = aws.cloudformation(None);
    for _ in 0..600 {
        match crate::aws::stack::describe(&cfn, stack).await? {
            None if deleted => return Ok(BTreeMap::new()),
            Some(found) => match phase(&found.status) {
                Phase::Deleted if deleted => return Ok(BTreeMap::new()),
                Phase::Stable if !deleted => return Ok(outputs_of(&found)),
                Phase::FailedCreate | Phase::Stuck => {
                    bail!("{stack} is {}; the emulator could not make the stand-in hosted zones", found.status.as_str())
                }
                _ => tokio::time::sleep(Duration::from_millis(100)).await,
            },
            None => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
    bail!("{stack} did not settle within 60 s")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_zone_per_real_zone_named_by_its_shortest_domain() {
        let mut prod = EnvironmentConfig::load(&crate::workspace_root(), "prod").unwrap();
        let zones = zones_needed(&mut prod);
        assert_eq!(
            zones.into_iter().collect::<Vec<_>>(),
            [("Z0123456789EXAMPLE".to_owned(), "brain2.example.com".to_owned())]
        );
        let mut dev = EnvironmentConfig::load(&crate::workspace_root(), "dev").unwrap();
        assert!(zones_needed(&mut dev).is_empty());
    }
}
