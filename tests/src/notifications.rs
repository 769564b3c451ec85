//! The report topic as a subscriber sees it: a queue subscribed to a topic in the emulator,
//! and what arrives in it.

use crate::Moto;

/// A topic with a queue subscribed to it, both named `name`: (topic ARN, queue URL).
pub async fn topic_with_queue(moto: &Moto, name: &str) -> (String, String) {
    let config = moto.sdk_config().await;
    let (sns, sqs) = (
        aws_sdk_sns::Client::new(&config),
        aws_sdk_sqs::Client::new(&config),
    );
    let topic = sns
        .create_topic()
        .name(name)
        .send()
        .await
        .unwrap_or_else(|e| panic!("create topic: {e:?}"))
        .topic_arn()
        .unwrap_or_default()
        .to_string();
    let queue = sqs
        .create_queue()
        .queue_name(name)
        .send()
        .await
        .unwrap_or_else(|e| panic!("create queue: {e:?}"))
        .queue_url()
        .unwrap_or_default()
        .to_string();
    let arn = sqs
        .get_queue_attributes()
        .queue_url(&queue)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
        .send()
        .await
        .unwrap_or_else(|e| panic!("queue attributes: {e:?}"))
        .attributes()
        .and_then(|a| a.get(&aws_sdk_sqs::types::QueueAttributeName::QueueArn))
        .cloned()
        .unwrap_or_default();
    sns.subscribe()
        .topic_arn(&topic)
        .protocol("sqs")
        .endpoint(arn)
        .send()
        .await
        .unwrap_or_else(|e| panic!("subscribe: {e:?}"));
    (topic, queue)
}

/// The body of every message waiting in the queue (an SNS notification, as an SQS subscription
/// without raw delivery receives it), removed from it.
pub async fn received_bodies(moto: &Moto, queue: &str) -> Vec<String> {
    let sqs = aws_sdk_sqs::Client::new(&moto.sdk_config().await);
    let mut bodies = Vec::new();
    loop {
        let batch = sqs
            .receive_message()
            .queue_url(queue)
            .max_number_of_messages(10)
            .send()
            .await
            .unwrap_or_else(|e| panic!("receive: {e:?}"));
        if batch.messages().is_empty() {
            return bodies;
        }
        for message in batch.messages() {
            bodies.push(message.body().unwrap_or_default().to_string());
            sqs.delete_message()
                .queue_url(queue)
                .set_receipt_handle(message.receipt_handle().map(String::from))
                .send()
                .await
                .unwrap_or_else(|e| panic!("delete: {e:?}"));
        }
    }
}

/// The `Message` of every notification waiting in the queue: what the publisher sent.
pub async fn received_messages(moto: &Moto, queue: &str) -> Vec<String> {
    received_bodies(moto, queue)
        .await
        .iter()
        .map(|body| {
            let notification: serde_json::Value =
                serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}"));
            notification["Message"]
                .as_str()
                .unwrap_or_default()
                .to_string()
        })
        .collect()
}
