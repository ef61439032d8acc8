//! The S3 side: content-addressed uploads that skip what is already there, small JSON
//! records, and emptying a bucket before its stack is deleted.

use anyhow::{Context, Result};
use aws_sdk_s3::Client;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{Delete, ObjectIdentifier, ServerSideEncryption};

use super::errors::{code, explain};

/// Uploads `bytes` to `key` unless an object is already there. Keys are content-addressed
/// (they name the sha256 of what they hold), so an existing object is the same bytes.
/// Returns whether it uploaded.
pub async fn ensure(s3: &Client, bucket: &str, key: &str, bytes: Vec<u8>, content_type: &str) -> Result<bool> {
    match s3.head_object().bucket(bucket).key(key).send().await {
        Ok(_) => return Ok(false),
        Err(error)
            if error.as_service_error().is_some_and(|e| e.is_not_found()) || code(&error) == Some("NotFound") => {}
        Err(error) => return Err(explain(&format!("checking s3://{bucket}/{key}"), error)),
    }
    put(s3, bucket, key, bytes, content_type, None).await?;
    Ok(true)
}

/// Writes one object, encrypted at rest.
pub async fn put(
    s3: &Client,
    bucket: &str,
    key: &str,
    bytes: Vec<u8>,
    content_type: &str,
    cache_control: Option<&str>,
) -> Result<()> {
    s3.put_object()
        .bucket(bucket)
        .key(key)
        .content_type(content_type)
        .set_cache_control(cache_control.map(str::to_owned))
        .server_side_encryption(ServerSideEncryption::Aes256)
        .body(ByteStream::from(bytes))
        .send()
        .await
        .map_err(|e| explain(&format!("uploading s3://{bucket}/{key}"), e))?;
    Ok(())
}

/// Reads a JSON object.
pub async fn get_json(s3: &Client, bucket: &str, key: &str) -> Result<serde_json::Value> {
    let object = s3
        .get_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .map_err(|e| explain(&format!("reading s3://{bucket}/{key}"), e))?;
    let bytes = object.body.collect().await.with_context(|| format!("reading s3://{bucket}/{key}"))?.into_bytes();
    serde_json::from_slice(&bytes).with_context(|| format!("s3://{bucket}/{key} is not JSON"))
}

/// Whether the object carries `tag` = `value`.
pub async fn has_tag(s3: &Client, bucket: &str, key: &str, tag: &str, value: &str) -> Result<bool> {
    let tagging = s3
        .get_object_tagging()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .map_err(|e| explain(&format!("reading the tags of s3://{bucket}/{key}"), e))?;
    Ok(tagging.tag_set().iter().any(|t| t.key() == tag && t.value() == value))
}

/// Sets the object's tags to `tag` = `value` alone.
pub async fn set_tag(s3: &Client, bucket: &str, key: &str, tag: &str, value: &str) -> Result<()> {
    let tag = aws_sdk_s3::types::Tag::builder().key(tag).value(value).build()?;
    let tagging = aws_sdk_s3::types::Tagging::builder().tag_set(tag).build()?;
    s3.put_object_tagging()
        .bucket(bucket)
        .key(key)
        .tagging(tagging)
        .send()
        .await
        .map_err(|e| explain(&format!("tagging s3://{bucket}/{key}"), e))?;
    Ok(())
}

/// Removes the object's tags.
pub async fn clear_tags(s3: &Client, bucket: &str, key: &str) -> Result<()> {
    s3.delete_object_tagging()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .map_err(|e| explain(&format!("untagging s3://{bucket}/{key}"), e))?;
    Ok(())
}

/// Every key under `prefix` with its ETag, all pages.
pub async fn list(s3: &Client, bucket: &str, prefix: &str) -> Result<Vec<(String, String)>> {
    let mut keys = Vec::new();
    let mut token = None;
    loop {
        let page = s3
            .list_objects_v2()
            .bucket(bucket)
            .prefix(prefix)
            .set_continuation_token(token)
            .send()
            .await
            .map_err(|e| explain(&format!("listing s3://{bucket}/{prefix}"), e))?;
        for object in page.contents() {
            if let Some(key) = object.key() {
                keys.push((key.to_owned(), object.e_tag().unwrap_or_default().trim_matches('"').to_owned()));
            }
        }
        token = page.next_continuation_token().map(str::to_owned);
        if token.is_none() {
            return Ok(keys);
        }
    }
}

/// Deletes every object version and delete marker, so CloudFormation can delete the bucket.
/// Returns how many were deleted.
pub async fn empty(s3: &Client, bucket: &str) -> Result<usize> {
    let mut deleted = 0;
    loop {
        let page = match s3.list_object_versions().bucket(bucket).max_keys(1000).send().await {
            Ok(page) => page,
            Err(error) if code(&error) == Some("NoSuchBucket") => return Ok(deleted),
            Err(error) => return Err(explain(&format!("listing s3://{bucket}"), error)),
        };
        let mut identifiers = Vec::new();
        for (key, version) in page
            .versions()
            .iter()
            .map(|v| (v.key(), v.version_id()))
            .chain(page.delete_markers().iter().map(|m| (m.key(), m.version_id())))
        {
            if let Some(key) = key {
                identifiers
                    .push(ObjectIdentifier::builder().key(key).set_version_id(version.map(str::to_owned)).build()?);
            }
        }
        if identifiers.is_empty() {
            return Ok(deleted);
        }
        let count = identifiers.len();
        let delete = Delete::builder().set_objects(Some(identifiers)).quiet(true).build()?;
        let response = s3
            .delete_objects()
            .bucket(bucket)
            .delete(delete)
            .send()
            .await
            .map_err(|e| explain(&format!("emptying s3://{bucket}"), e))?;
        // S3 answers 200 and lists the objects it refused (object lock, a bucket policy): the
        // listing would return them again, so they end the emptying instead of a loop.
        if !response.errors().is_empty() {
            return Err(NotEmptied { bucket: bucket.to_owned(), refused: response.errors().to_vec() }.into());
        }
        deleted += count;
    }
}

/// Objects S3 refused to delete while emptying a bucket.
#[derive(Debug)]
pub struct NotEmptied {
    pub bucket: String,
    pub refused: Vec<aws_sdk_s3::types::Error>,
}

impl std::fmt::Display for NotEmptied {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        const SHOWN: usize = 5;
        let names: Vec<String> = self
            .refused
            .iter()
            .take(SHOWN)
            .map(|e| {
                let version = e.version_id().map(|v| format!(" (version {v})")).unwrap_or_default();
                format!(
                    "s3://{}/{}{version}: {}: {}",
                    self.bucket,
                    e.key().unwrap_or_default(),
                    e.code().unwrap_or("error"),
                    e.message().unwrap_or("no message")
                )
            })
            .collect();
        let more = self.refused.len().saturating_sub(SHOWN);
        write!(
            f,
            "S3 refused to delete {} object version(s) of s3://{}, so the bucket cannot be emptied: {}{}. \
             Remove what holds them (an object lock's legal hold or retention, a bucket policy) and run the command again",
            self.refused.len(),
            self.bucket,
            names.join("; "),
            if more > 0 { format!("; and {more} more") } else { String::new() }
        )
    }
}

impl std::error::Error for NotEmptied {}
