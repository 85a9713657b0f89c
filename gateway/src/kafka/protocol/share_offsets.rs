//! DescribeShareGroupOffsets at version 1, which the `kafka-protocol`
//! crate (0.18) does not have yet: v1 adds each share-partition's lag as
//! the share coordinator counts it (KIP-1226: records from the start
//! offset to the log end not yet delivered to completion), which is what
//! `kafka-share-groups --describe` prints. The request is v0's on the wire;
//! the response is decoded here, by a reader that checks every length
//! against the bytes left.

use bytes::{Buf, Bytes};
use kafka_protocol::messages::DescribeShareGroupOffsetsRequest;
use kafka_protocol::protocol::buf::{ByteBuf, ByteBufMut};
use kafka_protocol::protocol::{
    Decodable, Encodable, HeaderVersion, Message, Request, VersionRange,
};

/// The request, sent as version 1 (its fields are v0's).
pub(super) struct OffsetsRequest(pub(super) DescribeShareGroupOffsetsRequest);

impl Message for OffsetsRequest {
    const VERSIONS: VersionRange = VersionRange { min: 1, max: 1 };
    const DEPRECATED_VERSIONS: Option<VersionRange> = None;
}

impl Encodable for OffsetsRequest {
    fn encode<B: ByteBufMut>(&self, buf: &mut B, _version: i16) -> anyhow::Result<()> {
        self.0.encode(buf, 0)
    }
    fn compute_size(&self, _version: i16) -> anyhow::Result<usize> {
        self.0.compute_size(0)
    }
}

impl Decodable for OffsetsRequest {
    fn decode<B: ByteBuf>(_: &mut B, _: i16) -> anyhow::Result<Self> {
        anyhow::bail!("a client never decodes a request")
    }
}

impl HeaderVersion for OffsetsRequest {
    fn header_version(_: i16) -> i16 {
        2
    }
}

impl Request for OffsetsRequest {
    const KEY: i16 = 90;
    type Response = OffsetsResponse;
}

/// The parts of the response the dashboard shows.
#[derive(Debug, Default, PartialEq, Eq)]
pub(super) struct OffsetsResponse {
    pub(super) groups: Vec<GroupOffsets>,
}

#[derive(Debug, PartialEq, Eq)]
pub(super) struct GroupOffsets {
    pub(super) group_id: String,
    pub(super) error_code: i16,
    pub(super) error_message: Option<String>,
    pub(super) topics: Vec<(String, Vec<PartitionOffsets>)>,
}

#[derive(Debug, PartialEq, Eq)]
pub(super) struct PartitionOffsets {
    pub(super) partition: i32,
    /// -1: none yet.
    pub(super) start_offset: i64,
    /// -1: not known.
    pub(super) lag: i64,
    pub(super) error_code: i16,
}

impl Message for OffsetsResponse {
    const VERSIONS: VersionRange = VersionRange { min: 1, max: 1 };
    const DEPRECATED_VERSIONS: Option<VersionRange> = None;
}

impl HeaderVersion for OffsetsResponse {
    fn header_version(_: i16) -> i16 {
        1
    }
}

impl Encodable for OffsetsResponse {
    fn encode<B: ByteBufMut>(&self, _: &mut B, _: i16) -> anyhow::Result<()> {
        anyhow::bail!("a client never encodes a response")
    }
    fn compute_size(&self, _: i16) -> anyhow::Result<usize> {
        anyhow::bail!("a client never encodes a response")
    }
}

impl Decodable for OffsetsResponse {
    fn decode<B: ByteBuf>(buf: &mut B, _: i16) -> anyhow::Result<Self> {
        let mut r = Reader(buf.copy_to_bytes(buf.remaining()));
        let _throttle = r.i32()?;
        let groups = r.array(|r| {
            let group_id = r.string()?;
            let topics = r.array(|r| {
                let topic = r.string()?;
                r.skip(16)?; // topic id
                let partitions = r.array(|r| {
                    let partition = r.i32()?;
                    let start_offset = r.i64()?;
                    let _leader_epoch = r.i32()?;
                    let lag = r.i64()?;
                    let error_code = r.i16()?;
                    let _message = r.nullable_string()?;
                    r.tagged_fields()?;
                    Ok(PartitionOffsets {
                        partition,
                        start_offset,
                        lag,
                        error_code,
                    })
                })?;
                r.tagged_fields()?;
                Ok((topic, partitions))
            })?;
            let error_code = r.i16()?;
            let error_message = r.nullable_string()?;
            r.tagged_fields()?;
            Ok(GroupOffsets {
                group_id,
                error_code,
                error_message,
                topics,
            })
        })?;
        r.tagged_fields()?;
        Ok(Self { groups })
    }
}

/// Flexible-version fields, each read only when the bytes are there.
struct Reader(Bytes);

impl Reader {
    fn need(&self, n: usize) -> anyhow::Result<()> {
        anyhow::ensure!(self.0.remaining() >= n, "response ends early");
        Ok(())
    }
    fn i16(&mut self) -> anyhow::Result<i16> {
        self.need(2)?;
        Ok(self.0.get_i16())
    }
    fn i32(&mut self) -> anyhow::Result<i32> {
        self.need(4)?;
        Ok(self.0.get_i32())
    }
    fn i64(&mut self) -> anyhow::Result<i64> {
        self.need(8)?;
        Ok(self.0.get_i64())
    }
    fn skip(&mut self, n: usize) -> anyhow::Result<()> {
        self.need(n)?;
        self.0.advance(n);
        Ok(())
    }
    fn varint(&mut self) -> anyhow::Result<u32> {
        let mut value = 0u32;
        for shift in (0..35).step_by(7) {
            self.need(1)?;
            let byte = self.0.get_u8();
            value |= u32::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        anyhow::bail!("a varint over 5 bytes")
    }
    /// A compact length: None for null, else the count.
    fn length(&mut self) -> anyhow::Result<Option<usize>> {
        let n = self.varint()?;
        Ok(n.checked_sub(1).map(|n| n as usize))
    }
    fn nullable_string(&mut self) -> anyhow::Result<Option<String>> {
        let Some(n) = self.length()? else {
            return Ok(None);
        };
        self.need(n)?;
        let bytes = self.0.split_to(n);
        Ok(Some(String::from_utf8_lossy(&bytes).into_owned()))
    }
    fn string(&mut self) -> anyhow::Result<String> {
        self.nullable_string()?
            .ok_or_else(|| anyhow::anyhow!("a null string where one is required"))
    }
    /// A compact array; each item takes at least one byte, so a count
    /// beyond the bytes left is refused before anything is allocated.
    fn array<T>(
        &mut self,
        mut item: impl FnMut(&mut Self) -> anyhow::Result<T>,
    ) -> anyhow::Result<Vec<T>> {
        let n = self.length()?.unwrap_or(0);
        self.need(n)?;
        (0..n).map(|_| item(self)).collect()
    }
    fn tagged_fields(&mut self) -> anyhow::Result<()> {
        for _ in 0..self.varint()? {
            let _tag = self.varint()?;
            let size = self.varint()? as usize;
            self.skip(size)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A v1 response as Kafka's own `DescribeShareGroupOffsetsResponseData`
    /// writes it (bytes laid out by its SCHEMA_1).
    fn response() -> Vec<u8> {
        let mut b = Vec::new();
        b.extend(0i32.to_be_bytes()); // throttle
        b.push(2); // one group
        b.push(2);
        b.extend(b"g"); // group id
        b.push(2); // one topic
        b.push(2);
        b.extend(b"t"); // topic name
        b.extend([7u8; 16]); // topic id
        b.push(3); // two partitions
        for (p, start, lag) in [(0i32, 5i64, 2i64), (1, -1, -1)] {
            b.extend(p.to_be_bytes());
            b.extend(start.to_be_bytes());
            b.extend(0i32.to_be_bytes()); // leader epoch
            b.extend(lag.to_be_bytes());
            b.extend(0i16.to_be_bytes());
            b.push(0); // null message
            b.push(0); // no tagged fields
        }
        b.push(0); // topic's tagged fields
        b.extend(0i16.to_be_bytes()); // group error
        b.push(0); // null message
        b.push(0);
        b.push(0);
        b
    }

    #[test]
    fn a_v1_response_is_read_field_by_field() {
        let decoded = OffsetsResponse::decode(&mut Bytes::from(response()), 1).expect("decode");
        assert_eq!(
            decoded.groups,
            vec![GroupOffsets {
                group_id: "g".into(),
                error_code: 0,
                error_message: None,
                topics: vec![(
                    "t".into(),
                    vec![
                        PartitionOffsets {
                            partition: 0,
                            start_offset: 5,
                            lag: 2,
                            error_code: 0
                        },
                        PartitionOffsets {
                            partition: 1,
                            start_offset: -1,
                            lag: -1,
                            error_code: 0
                        },
                    ]
                )]
            }]
        );
    }

    #[test]
    fn a_cut_or_lying_response_is_an_error_not_an_allocation() {
        let full = response();
        for cut in 0..full.len() {
            assert!(OffsetsResponse::decode(&mut Bytes::from(full[..cut].to_vec()), 1).is_err());
        }
        // A group count of about 2^32 in five bytes.
        let mut lying = 0i32.to_be_bytes().to_vec();
        lying.extend([0xff, 0xff, 0xff, 0xff, 0x0f]);
        assert!(OffsetsResponse::decode(&mut Bytes::from(lying), 1).is_err());
    }
}
