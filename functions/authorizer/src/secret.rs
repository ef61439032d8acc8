//! The HS256 secret, read once per cold start from Secrets Manager.

/// Reads the secret. Its value is the raw JWT secret, or JSON holding it under `jwtSecret`,
/// `jwt_secret` or `secret`. Errors name the ARN, never the value.
pub async fn load(client: &aws_sdk_secretsmanager::Client, arn: &str) -> Result<Vec<u8>, String> {
    let output = client.get_secret_value().secret_id(arn).send().await.map_err(|e| {
        format!("reading the JWT secret {arn}: {}", aws_sdk_secretsmanager::error::DisplayErrorContext(&e))
    })?;
    let value = output.secret_string().ok_or_else(|| format!("secret {arn} has no string value"))?;
    Ok(secret_bytes(value))
}

fn secret_bytes(value: &str) -> Vec<u8> {
    match serde_json::from_str::<serde_json::Value>(value) {
        Ok(serde_json::Value::Object(map)) => ["jwtSecret", "jwt_secret", "secret"]
            .iter()
            .find_map(|k| map.get(*k).and_then(|v| v.as_str()))
            .unwrap_or(value)
            .as_bytes()
            .to_vec(),
        _ => value.as_bytes().to_vec(),
    }
}
