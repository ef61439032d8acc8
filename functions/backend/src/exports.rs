//! Exports too large for one Lambda answer: written to the exports bucket under
//! `exports/<userId>/`, handed out as a presigned GET that lasts [`LINK_LIFETIME`], and removed
//! by the bucket's lifecycle rule after a day or by account deletion at once.

use std::time::Duration;

use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::primitives::ByteStream;
use brain2_api::export::DOWNLOAD_LINK_SECONDS;
use brain2_api::{ExportFormat, ExportLink};
use brain2_shared::domain::{self, UserId};
use time::OffsetDateTime;

/// How long a download link works (`DOWNLOAD_LINK_SECONDS`): short, because whoever holds it
/// can read the export; the client follows it at once.
pub const LINK_LIFETIME: Duration = Duration::from_secs(DOWNLOAD_LINK_SECONDS);

/// The most one S3 call may take, retries included: well inside the backend's 10 s.
pub const OPERATION_TIMEOUT: Duration = Duration::from_secs(6);

/// Where every key of a user's exports begins.
pub fn prefix_of(user: UserId) -> String {
    format!("exports/{user}/")
}

#[derive(Debug, thiserror::Error)]
pub enum ExportBucketError {
    #[error("writing the export to s3://{bucket}/{key}: {message}")]
    Put { bucket: String, key: String, message: String },
    #[error("signing the download link of s3://{bucket}/{key}: {message}")]
    Presign { bucket: String, key: String, message: String },
    #[error("listing s3://{bucket}/{prefix}: {message}")]
    List { bucket: String, prefix: String, message: String },
    #[error("deleting s3://{bucket}/{key}: {message}")]
    Delete { bucket: String, key: String, message: String },
}

/// The exports bucket (`EXPORTS_BUCKET_NAME`).
#[derive(Debug, Clone)]
pub struct ExportBucket {
    client: aws_sdk_s3::Client,
    bucket: String,
}

fn message(error: &impl std::error::Error) -> String {
    aws_sdk_s3::error::DisplayErrorContext(error).to_string()
}

impl ExportBucket {
    pub fn new(client: aws_sdk_s3::Client, bucket: impl Into<String>) -> Self {
        Self { client, bucket: bucket.into() }
    }

    /// The bucket through the functions' SDK configuration. Each call ends within
    /// [`OPERATION_TIMEOUT`], retries included, so a stalled S3 fails the request with its cause
    /// logged before Lambda's timeout cuts it off. Against an emulator (`AWS_ENDPOINT_URL`) the
    /// addressing is path style (`<endpoint>/<bucket>/<key>`): the endpoint's host has no
    /// subdomains.
    pub fn from_sdk(sdk: &brain2_shared::aws::SdkConfig, bucket: impl Into<String>) -> Self {
        let timeouts = aws_sdk_s3::config::timeout::TimeoutConfig::builder()
            .connect_timeout(brain2_shared::aws::CONNECT_TIMEOUT)
            .operation_timeout(OPERATION_TIMEOUT)
            .build();
        let config = aws_sdk_s3::config::Builder::from(sdk)
            .force_path_style(sdk.endpoint_url().is_some())
            .timeout_config(timeouts)
            .build();
        Self::new(aws_sdk_s3::Client::from_conf(config), bucket)
    }

    /// Writes `body` as a new object of `user`, saved by browsers as the export of `date`, and
    /// returns its key and a link to it. A write or link that failed leaves no object behind
    /// (as far as S3 answers: a write that timed out after S3 stored it stays until it expires).
    pub async fn put(
        &self,
        user: UserId,
        format: ExportFormat,
        body: Vec<u8>,
        memories: usize,
        date: time::Date,
    ) -> Result<(String, ExportLink), ExportBucketError> {
        // A fresh id per export: two exports in the same second never overwrite each other's
        // object while a link to the first is still being followed.
        let key = format!("{}{}.{}", prefix_of(user), uuid::Uuid::now_v7(), format.file_extension());
        let bytes = body.len() as u64;
        let written = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(&key)
            .content_type(format.content_type())
            .content_disposition(format!("attachment; filename=\"{}\"", format.file_name(date)))
            .body(ByteStream::from(body))
            .send()
            .await;
        let failed = match written {
            Ok(_) => match self.presign(&key).await {
                Ok((download_url, expires_at)) => {
                    return Ok((key, ExportLink { download_url, expires_at, bytes, format, memories }));
                }
                Err(message) => ExportBucketError::Presign { bucket: self.bucket.clone(), key: key.clone(), message },
            },
            // S3 may have stored it all the same (an answer lost, a timeout).
            Err(error) => {
                ExportBucketError::Put { bucket: self.bucket.clone(), key: key.clone(), message: message(&error) }
            }
        };
        if let Err(error) = self.delete(&key).await {
            tracing::warn!(%error, "an export that failed stays until it expires");
        }
        Err(failed)
    }

    /// Removes one export.
    pub async fn delete(&self, key: &str) -> Result<(), ExportBucketError> {
        self.client.delete_object().bucket(&self.bucket).key(key).send().await.map(|_| ()).map_err(|e| {
            ExportBucketError::Delete { bucket: self.bucket.clone(), key: key.to_owned(), message: message(&e) }
        })
    }

    /// A GET of `key` signed for [`LINK_LIFETIME`] by the SDK's clock, and a time it works until
    /// (taken just before signing, so the link lasts a moment longer).
    async fn presign(&self, key: &str) -> Result<(String, String), String> {
        let signed_at = OffsetDateTime::now_utc();
        let signing = PresigningConfig::expires_in(LINK_LIFETIME).map_err(|e| e.to_string())?;
        let request =
            self.client.get_object().bucket(&self.bucket).key(key).presigned(signing).await.map_err(|e| message(&e))?;
        Ok((request.uri().to_owned(), domain::rfc3339(signed_at + LINK_LIFETIME)))
    }

    /// Removes every export of `user`; returns how many there were. Sending it again after a
    /// failure finishes it.
    pub async fn delete_all(&self, user: UserId) -> Result<usize, ExportBucketError> {
        let prefix = prefix_of(user);
        let mut deleted = 0;
        let mut pages = self.client.list_objects_v2().bucket(&self.bucket).prefix(&prefix).into_paginator().send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| ExportBucketError::List {
                bucket: self.bucket.clone(),
                prefix: prefix.clone(),
                message: message(&e),
            })?;
            for key in page.contents().iter().filter_map(|object| object.key()) {
                // One object at a time: DeleteObjects would need s3:DeleteObject all the same,
                // and a user keeps few exports (each expires after a day).
                self.delete(key).await?;
                deleted += 1;
            }
        }
        Ok(deleted)
    }
}
