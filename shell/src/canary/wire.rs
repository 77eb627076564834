//! Two Kafka requests librdkafka cannot send: a Metadata request to **one chosen broker**
//! (librdkafka asks any broker) and DescribeQuorum (the KRaft metadata log's leader, voters,
//! observers and their log end offsets). Encoded with the `kafka-protocol` crate, one request
//! per connection, over tokio.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use cairn_core::canary::consistency::{
    BrokerMetadata, PartitionView, QuorumState, ReplicaProgress,
};
use kafka_protocol::messages::describe_quorum_request::{PartitionData, TopicData};
use kafka_protocol::messages::{
    DescribeQuorumRequest, DescribeQuorumResponse, MetadataRequest, MetadataResponse,
    RequestHeader, ResponseHeader, TopicName,
};
use kafka_protocol::protocol::{Decodable, Encodable, HeaderVersion, Request, StrBytes};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const METADATA_VERSION: i16 = 12;
const DESCRIBE_QUORUM_VERSION: i16 = 1;
/// The KRaft metadata log.
const METADATA_LOG: &str = "__cluster_metadata";
/// Kafka's CLUSTER_AUTHORIZATION_FAILED.
const CLUSTER_AUTHORIZATION_FAILED: i16 = 31;
/// A response larger than this is refused rather than allocated.
const MAX_RESPONSE: usize = 64 * 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum WireError {
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    #[error("could not encode or decode the {request} request: {detail}")]
    Protocol {
        request: &'static str,
        detail: String,
    },
    #[error(
        "DescribeQuorum was refused: not authorized; the canary's principal needs the ACL \
         DESCRIBE on CLUSTER (kafka-acls --add --operation Describe --cluster)"
    )]
    NotAuthorized,
    #[error("{request} answered error code {code}")]
    Broker { request: &'static str, code: i16 },
}

/// Sends `request` to `addr` and reads its answer.
async fn call<Q, R>(
    addr: &str,
    name: &'static str,
    request: &Q,
    version: i16,
    timeout: Duration,
) -> Result<R, WireError>
where
    Q: Request,
    R: Decodable + HeaderVersion,
{
    let protocol = |detail: String| WireError::Protocol {
        request: name,
        detail,
    };
    let exchange = async {
        let mut header = RequestHeader::default();
        header.request_api_key = Q::KEY;
        header.request_api_version = version;
        header.correlation_id = 1;
        header.client_id = Some(StrBytes::from_static_str("cairn-canary"));
        let mut body = BytesMut::new();
        header
            .encode(&mut body, Q::header_version(version))
            .map_err(|e| protocol(e.to_string()))?;
        request
            .encode(&mut body, version)
            .map_err(|e| protocol(e.to_string()))?;
        let mut stream = TcpStream::connect(addr).await?;
        stream.write_all(&(body.len() as u32).to_be_bytes()).await?;
        stream.write_all(&body).await?;
        let mut size = [0u8; 4];
        stream.read_exact(&mut size).await?;
        let size = u32::from_be_bytes(size) as usize;
        if size > MAX_RESPONSE {
            return Err(protocol(format!("a response of {size} bytes")));
        }
        let mut answer = vec![0u8; size];
        stream.read_exact(&mut answer).await?;
        let mut answer = Bytes::from(answer);
        ResponseHeader::decode(&mut answer, R::header_version(version))
            .map_err(|e| protocol(e.to_string()))?;
        R::decode(&mut answer, version).map_err(|e| protocol(e.to_string()))
    };
    tokio::time::timeout(timeout, exchange)
        .await
        .map_err(|_| WireError::Timeout(timeout))?
}

/// Every topic's partitions and the broker list, as the broker at `addr` sees them.
pub async fn broker_metadata(addr: &str, timeout: Duration) -> Result<BrokerMetadata, WireError> {
    let mut request = MetadataRequest::default();
    request.topics = None;
    request.allow_auto_topic_creation = false;
    let response: MetadataResponse =
        call(addr, "Metadata", &request, METADATA_VERSION, timeout).await?;
    let brokers: BTreeSet<i32> = response.brokers.iter().map(|b| b.node_id.0).collect();
    let mut partitions = BTreeMap::new();
    for topic in &response.topics {
        let Some(name) = &topic.name else { continue };
        if topic.error_code != 0 {
            continue;
        }
        for p in &topic.partitions {
            let mut isr: Vec<i32> = p.isr_nodes.iter().map(|b| b.0).collect();
            isr.sort_unstable();
            partitions.insert(
                (name.0.as_str().to_owned(), p.partition_index),
                PartitionView {
                    leader: p.leader_id.0,
                    leader_epoch: p.leader_epoch,
                    isr,
                },
            );
        }
    }
    Ok(BrokerMetadata {
        brokers,
        partitions,
    })
}

/// The metadata log's quorum, asked of the broker at `addr` (a broker forwards it to the
/// active controller).
pub async fn describe_quorum(addr: &str, timeout: Duration) -> Result<QuorumState, WireError> {
    let mut partition = PartitionData::default();
    partition.partition_index = 0;
    let mut topic = TopicData::default();
    topic.topic_name = TopicName(StrBytes::from_static_str(METADATA_LOG));
    topic.partitions = vec![partition];
    let mut request = DescribeQuorumRequest::default();
    request.topics = vec![topic];
    let response: DescribeQuorumResponse = call(
        addr,
        "DescribeQuorum",
        &request,
        DESCRIBE_QUORUM_VERSION,
        timeout,
    )
    .await?;
    let error = |code: i16| {
        if code == CLUSTER_AUTHORIZATION_FAILED {
            WireError::NotAuthorized
        } else {
            WireError::Broker {
                request: "DescribeQuorum",
                code,
            }
        }
    };
    if response.error_code != 0 {
        return Err(error(response.error_code));
    }
    let partition = response
        .topics
        .first()
        .and_then(|t| t.partitions.first())
        .ok_or(WireError::Protocol {
            request: "DescribeQuorum",
            detail: "no partition in the answer".into(),
        })?;
    if partition.error_code != 0 {
        return Err(error(partition.error_code));
    }
    let replicas = partition
        .current_voters
        .iter()
        .chain(&partition.observers)
        .map(|r| {
            (
                r.replica_id.0,
                ReplicaProgress {
                    log_end_offset: r.log_end_offset,
                },
            )
        })
        .collect();
    Ok(QuorumState {
        leader: partition.leader_id.0,
        leader_epoch: partition.leader_epoch,
        high_watermark: partition.high_watermark,
        replicas,
    })
}
