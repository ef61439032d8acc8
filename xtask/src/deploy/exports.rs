//! Exports another stack still imports. CloudFormation refuses to remove such an export, and
//! the usual way out is a hand-edited template. Deploy instead keeps the export (the deployed
//! output, copied into the new template) for as long as something imports it, and removes it
//! in a second pass once nothing does.

use std::collections::BTreeSet;

use anyhow::{Result, bail};
use serde_json::Value;

use crate::aws::stack::{self, Deployed};

/// An export the new template drops that some stack still imports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Kept {
    pub export: String,
    pub output: String,
    pub importers: Vec<String>,
}

/// Names of the exports a template declares.
pub fn declared(template: &Value) -> BTreeSet<String> {
    template["Outputs"]
        .as_object()
        .into_iter()
        .flatten()
        .filter_map(|(_, o)| o["Export"]["Name"].as_str().map(str::to_owned))
        .collect()
}

/// Logical ids an expression refers to through `Ref` and `Fn::GetAtt`.
fn references(value: &Value, out: &mut BTreeSet<String>) {
    match value {
        Value::Object(map) => {
            if let Some(Value::String(target)) = map.get("Ref") {
                out.insert(target.clone());
            }
            if let Some(Value::Array(parts)) = map.get("Fn::GetAtt")
                && let Some(Value::String(target)) = parts.first()
            {
                out.insert(target.clone());
            }
            if let Some(Value::String(text)) = map.get("Fn::GetAtt") {
                out.insert(text.split('.').next().unwrap_or_default().to_owned());
            }
            map.values().for_each(|v| references(v, out));
        }
        Value::Array(items) => items.iter().for_each(|v| references(v, out)),
        _ => {}
    }
}

/// Adds back to `desired` every export the deployed stack has, the new template drops, and
/// another stack still imports. Fails, before anything changes, when such an export's value
/// needs a resource the new template removes: that change must wait until the importer lets go.
pub async fn keep_imported(
    cfn: &aws_sdk_cloudformation::Client,
    deployed: &Deployed,
    deployed_template: &Value,
    desired: &mut Value,
    emulated: bool,
) -> Result<Vec<Kept>> {
    let wanted = declared(desired);
    let mut kept = Vec::new();
    for output in deployed.exports() {
        let export = output.export_name.clone().unwrap_or_default();
        if wanted.contains(&export) {
            continue;
        }
        let importers = stack::importers(cfn, &export, emulated).await?;
        if importers.is_empty() {
            continue;
        }
        let Some(definition) = deployed_template["Outputs"].get(&output.key).cloned() else {
            bail!("{} exports {export} but its template has no output {}", deployed.name, output.key);
        };
        let mut needs = BTreeSet::new();
        references(&definition["Value"], &mut needs);
        let resources = desired["Resources"].as_object().cloned().unwrap_or_default();
        let parameters = desired["Parameters"].as_object().cloned().unwrap_or_default();
        let missing: Vec<&String> = needs
            .iter()
            .filter(|id| !id.starts_with("AWS::") && !resources.contains_key(*id) && !parameters.contains_key(*id))
            .collect();
        if !missing.is_empty() {
            bail!(
                "{stack} would remove {missing:?}, whose export {export} is still imported by {importers}. \
                 CloudFormation cannot remove an export in use. Deploy the change to {importers} that stops \
                 importing it first (with `--stack`), then this one",
                stack = deployed.name,
                importers = importers.join(", ")
            );
        }
        let outputs = desired
            .as_object_mut()
            .expect("a template is an object")
            .entry("Outputs")
            .or_insert_with(|| Value::Object(Default::default()));
        outputs[&output.key] = definition;
        kept.push(Kept { export, output: output.key.clone(), importers });
    }
    Ok(kept)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn references_are_found_in_ref_getatt_and_sub_free_values() {
        let mut out = BTreeSet::new();
        references(
            &json!({ "Fn::Join": ["", [{ "Ref": "A" }, { "Fn::GetAtt": ["B", "Arn"] }, { "Fn::GetAtt": "C.Arn" }]] }),
            &mut out,
        );
        assert_eq!(out, BTreeSet::from(["A".to_owned(), "B".to_owned(), "C".to_owned()]));
    }

    #[test]
    fn declared_exports_are_read_from_outputs() {
        let template =
            json!({ "Outputs": { "X": { "Value": "v", "Export": { "Name": "s:X:Ref" } }, "Y": { "Value": "v" } } });
        assert_eq!(declared(&template), BTreeSet::from(["s:X:Ref".to_owned()]));
    }
}
