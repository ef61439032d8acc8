//! Where MiniStack differs from AWS after a deploy, and what `cargo xtask dev` does about it:
//! each gap is worked around here, once, after the real deploy, so the templates and the
//! functions stay exactly what ships to AWS. (How MiniStack is started is in `emulator.rs`; the
//! functions' one emulator-aware line, the WebSocket management endpoint, is in
//! `functions/shared/src/aws.rs`.)
//!
//! 1. CORS: MiniStack's CloudFormation stores an HTTP API's `CorsConfiguration` with the
//!    template's key names (`AllowOrigins`), while its API Gateway reads the API's own
//!    (`allowOrigins`), so every browser preflight is refused. The configuration the template
//!    declares is applied again through API Gateway's own `UpdateApi`.
//! 2. WebSocket URL: MiniStack reports a WebSocket API's endpoint as `http://`; AWS says `wss://`.
//!    The site gets `ws://`.
//! 3. Custom domains (a rehearsal of staging or prod): the stacks' URL outputs name the APIs'
//!    domains, which do not resolve here; the site gets each API's own endpoint instead, as
//!    API Gateway reports it, with the WebSocket stage's name.

use anyhow::{Context as _, Result};
use aws_sdk_apigatewayv2::types::Cors;
use brain2_iac::cfn::Synthesized;
use serde_json::Value;

use crate::aws::Aws;

fn strings(value: &Value) -> Option<Vec<String>> {
    value.as_array().map(|items| items.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect())
}

/// Like [`strings`], with `{"Ref": "<parameter>"}` items read from the stack's parameters as
/// deployed (the site's origin is one, taken from the frontend stack's output).
fn resolved_strings(value: &Value, parameters: &std::collections::BTreeMap<String, String>) -> Option<Vec<String>> {
    value.as_array().map(|items| {
        items
            .iter()
            .filter_map(|v| match v["Ref"].as_str() {
                Some(parameter) => parameters.get(parameter).cloned(),
                None => v.as_str().map(str::to_owned),
            })
            .collect()
    })
}

/// Gap 1: applies each HTTP API's declared CORS configuration through `UpdateApi`. Returns how
/// many APIs it updated.
pub async fn reapply_cors(aws: &Aws, synthesized: &Synthesized) -> Result<usize> {
    let cfn = aws.cloudformation(None);
    let apis = aws.apigatewayv2();
    let mut updated = 0;
    for stack in &synthesized.stacks {
        let template: Value = serde_json::from_str(&stack.template)?;
        let Some(resources) = template["Resources"].as_object() else { continue };
        for (id, resource) in resources {
            let cors = &resource["Properties"]["CorsConfiguration"];
            if resource["Type"] != "AWS::ApiGatewayV2::Api" || !cors.is_object() {
                continue;
            }
            let api_id = crate::aws::stack::physical_id(&cfn, &stack.name, id)
                .await?
                .with_context(|| format!("{id} in {} has no physical id", stack.name))?;
            let parameters = crate::aws::stack::describe(&cfn, &stack.name)
                .await?
                .map(|deployed| deployed.parameters)
                .unwrap_or_default();
            let configuration = Cors::builder()
                .set_allow_origins(resolved_strings(&cors["AllowOrigins"], &parameters))
                .set_allow_methods(strings(&cors["AllowMethods"]))
                .set_allow_headers(strings(&cors["AllowHeaders"]))
                .set_expose_headers(strings(&cors["ExposeHeaders"]))
                .set_max_age(cors["MaxAge"].as_i64().map(|n| n as i32))
                .set_allow_credentials(cors["AllowCredentials"].as_bool())
                .build();
            apis.update_api()
                .api_id(&api_id)
                .cors_configuration(configuration)
                .send()
                .await
                .map_err(|e| crate::aws::errors::explain(&format!("re-applying the CORS configuration of {id}"), e))?;
            updated += 1;
        }
    }
    Ok(updated)
}

/// Gap 3: for an API with a custom domain, its own endpoint in place of the domain's URL in the
/// site's configuration (`httpApiUrl`, `webSocketUrl`).
pub async fn own_endpoints(
    aws: &Aws,
    synthesized: &Synthesized,
    config: &brain2_iac::config::EnvironmentConfig,
    values: &mut Value,
) -> Result<()> {
    let cfn = aws.cloudformation(None);
    for stack in &synthesized.stacks {
        let template: Value = serde_json::from_str(&stack.template)?;
        let Some(resources) = template["Resources"].as_object() else { continue };
        for (id, resource) in resources {
            if resource["Type"] != "AWS::ApiGatewayV2::Api" {
                continue;
            }
            let (key, has_domain) = match resource["Properties"]["ProtocolType"].as_str() {
                Some("HTTP") => ("httpApiUrl", config.api.domain.is_some()),
                Some("WEBSOCKET") => ("webSocketUrl", config.api.web_socket_domain.is_some()),
                _ => continue,
            };
            if !has_domain {
                continue;
            }
            let api_id = crate::aws::stack::physical_id(&cfn, &stack.name, id)
                .await?
                .with_context(|| format!("{id} in {} has no physical id", stack.name))?;
            let api = aws
                .apigatewayv2()
                .get_api()
                .api_id(&api_id)
                .send()
                .await
                .map_err(|e| crate::aws::errors::explain(&format!("reading the API {api_id}"), e))?;
            let endpoint = api.api_endpoint().with_context(|| format!("the API {api_id} has no endpoint"))?;
            let stage = resources.values().find_map(|r| {
                (r["Type"] == "AWS::ApiGatewayV2::Stage" && r["Properties"]["ApiId"]["Ref"] == id.as_str())
                    .then(|| r["Properties"]["StageName"].as_str())
                    .flatten()
                    .filter(|name| *name != "$default")
            });
            let url = match stage {
                Some(stage) => format!("{endpoint}/{stage}"),
                None => endpoint.to_owned(),
            };
            values[key] = Value::String(url);
        }
    }
    Ok(())
}

/// Gap 2: the browser's WebSocket URL.
pub fn web_socket_url(reported: &str) -> String {
    match reported.strip_prefix("http://") {
        Some(rest) => format!("ws://{rest}"),
        None => reported.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cors_origins_given_as_parameters_take_their_deployed_values() {
        let parameters = [("SiteOrigin".to_owned(), "https://d1.cloudfront.net".to_owned())].into();
        let origins = serde_json::json!([{ "Ref": "SiteOrigin" }, "http://127.0.0.1:8600", { "Ref": "Unknown" }]);
        assert_eq!(
            resolved_strings(&origins, &parameters).unwrap(),
            ["https://d1.cloudfront.net", "http://127.0.0.1:8600"]
        );
    }

    #[test]
    fn the_websocket_url_gets_a_websocket_scheme() {
        assert_eq!(
            web_socket_url("http://abc.execute-api.localhost:8601/live"),
            "ws://abc.execute-api.localhost:8601/live"
        );
        assert_eq!(
            web_socket_url("wss://abc.execute-api.eu-west-1.amazonaws.com/live"),
            "wss://abc.execute-api.eu-west-1.amazonaws.com/live"
        );
    }
}
