//! Each published report also kept as a page (`--html`'s), opt-in per deployment
//! (`REPORT_BUCKET`, set by the templates' `ReportPages`), in a stack-owned S3 bucket, and
//! linked from the notification. The link is the object's S3 console address, not a presigned
//! URL: a presigned URL signed with the function's session credentials dies with the session
//! (hours at most), while a console link lives as long as the object (the bucket's lifecycle,
//! 90 days in the templates) and is opened with the reader's own AWS sign-in, so the page, which
//! names the stack's resources, is never public. A failed upload is logged and only drops the
//! link: the repair is done and in the log.

use chrono::{DateTime, SecondsFormat, Utc};
use domain::outputs::render_html;
use domain::report::Report;

/// Where a function's report pages go.
#[derive(Debug, Clone)]
pub struct ReportPages {
    s3: aws_sdk_s3::Client,
    bucket: String,
    region: String,
}

impl ReportPages {
    pub fn new(config: &aws_config::SdkConfig, bucket: impl Into<String>) -> Self {
        Self {
            s3: aws_sdk_s3::Client::new(config),
            bucket: bucket.into(),
            region: config.region().map(ToString::to_string).unwrap_or_default(),
        }
    }

    /// Stores `report` as a page and returns its link; `None` (logged) when the upload failed.
    pub async fn store(
        &self,
        report: &Report,
        selector: &str,
        now: DateTime<Utc>,
    ) -> Option<String> {
        let key = page_key(report, selector, now);
        let stored = self
            .s3
            .put_object()
            .bucket(&self.bucket)
            .key(&key)
            .content_type("text/html; charset=utf-8")
            .body(render_html(report, now).into_bytes().into())
            .send()
            .await;
        match stored {
            Ok(_) => Some(console_link(&self.bucket, &self.region, &key)),
            Err(e) => {
                let error = crate::aws::sdk_error("PutObject", e);
                tracing::error!(error = %error, bucket = %self.bucket, "the report page could not be stored");
                None
            }
        }
    }
}

/// `reports/<stack>/<time>-<signal>.html`: one folder per stack, sorted by time, one object per
/// run (the signal's ID tells two runs of one second apart).
pub fn page_key(report: &Report, selector: &str, now: DateTime<Utc>) -> String {
    let stack = match report.stacks.as_slice() {
        [one] => one.stack.to_string(),
        _ => selector.to_string(),
    };
    let safe = |text: &str| -> String {
        text.chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                    c
                } else {
                    '_'
                }
            })
            .collect()
    };
    let signal = match report.signal.id.as_str() {
        "" => "run".to_string(),
        id => safe(id),
    };
    format!(
        "reports/{}/{}-{signal}.html",
        safe(&stack),
        now.to_rfc3339_opts(SecondsFormat::Secs, true)
            .replace(':', "")
    )
}

/// The object in the S3 console: opened with the reader's own sign-in.
pub fn console_link(bucket: &str, region: &str, key: &str) -> String {
    format!(
        "https://{region}.console.aws.amazon.com/s3/object/{bucket}?region={region}&bucketType=general&prefix={}",
        percent_encoding::utf8_percent_encode(key, percent_encoding::NON_ALPHANUMERIC)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use domain::report::Execution;
    use domain::signal::Signal;
    use domain::stack::Mode;

    #[test]
    fn a_page_is_keyed_by_stack_time_and_signal_and_linked_in_the_console() {
        let mut signal = Signal::sweep("schedule");
        signal.id = "7b3f/../x".into();
        let report = Report::new(
            Execution::Apply,
            Mode::Enforce,
            signal,
            Vec::new(),
            Vec::new(),
        );
        let now = DateTime::from_timestamp(1_796_000_000, 0).unwrap_or_default();
        let key = page_key(&report, "demo-*", now);
        assert_eq!(key, "reports/demo-_/2026-11-30T005320Z-7b3f_.._x.html");
        assert_eq!(
            console_link("demo-reports", "us-east-1", "reports/a b.html"),
            "https://us-east-1.console.aws.amazon.com/s3/object/demo-reports?region=us-east-1&bucketType=general&prefix=reports%2Fa%20b%2Ehtml"
        );
    }
}
