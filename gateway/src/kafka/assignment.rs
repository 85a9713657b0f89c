//! Decoding a consumer group member's partition assignment.
//!
//! The broker hands group members' assignments back as opaque bytes in the
//! Kafka consumer protocol's `ConsumerProtocolAssignment` encoding:
//!
//! ```text
//! version: int16
//! assigned_partitions: int32 count, then each { topic: int16 length + UTF-8, partitions: int32 count + int32 each }
//! user_data: int32 length (-1 for none) + bytes
//! ```
//!
//! Any program can join a group with any bytes, so decoding never panics and
//! gives up (returning `None`) at the first field that does not fit.

/// Topic and partitions assigned to one member.
pub(super) type Assignment = Vec<(String, Vec<i32>)>;

/// Most topics or partitions one assignment is believed to list; a count
/// above this is garbage, not a reason to allocate.
const MAX_COUNT: i32 = 1_000_000;

pub(super) fn decode(bytes: &[u8]) -> Option<Assignment> {
    let mut reader = Reader(bytes);
    let _version = reader.i16()?;
    let topics = reader.count()?;
    let mut assignment = Vec::with_capacity(topics.min(64));
    for _ in 0..topics {
        let name_len = usize::try_from(reader.i16()?).ok()?;
        let name = std::str::from_utf8(reader.take(name_len)?).ok()?.to_owned();
        let partitions = reader.count()?;
        let mut ids = Vec::with_capacity(partitions.min(1024));
        for _ in 0..partitions {
            ids.push(reader.i32()?);
        }
        assignment.push((name, ids));
    }
    // User data follows; nothing here needs it.
    Some(assignment)
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.0.len() < n {
            return None;
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Some(head)
    }

    fn i16(&mut self) -> Option<i16> {
        Some(i16::from_be_bytes(self.take(2)?.try_into().ok()?))
    }

    fn i32(&mut self) -> Option<i32> {
        Some(i32::from_be_bytes(self.take(4)?.try_into().ok()?))
    }

    fn count(&mut self) -> Option<usize> {
        let n = self.i32()?;
        if !(0..=MAX_COUNT).contains(&n) {
            return None;
        }
        usize::try_from(n).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encode(assignment: &[(&str, &[i32])]) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(&1i16.to_be_bytes());
        out.extend_from_slice(&(assignment.len() as i32).to_be_bytes());
        for (topic, partitions) in assignment {
            out.extend_from_slice(&(topic.len() as i16).to_be_bytes());
            out.extend_from_slice(topic.as_bytes());
            out.extend_from_slice(&(partitions.len() as i32).to_be_bytes());
            for p in *partitions {
                out.extend_from_slice(&p.to_be_bytes());
            }
        }
        out.extend_from_slice(&(-1i32).to_be_bytes());
        out
    }

    #[test]
    fn decodes_topics_and_partitions() {
        let bytes = encode(&[("orders", &[0, 2]), ("other", &[])]);
        assert_eq!(
            decode(&bytes),
            Some(vec![
                ("orders".into(), vec![0, 2]),
                ("other".into(), vec![])
            ])
        );
    }

    #[test]
    fn every_truncation_is_refused_without_panic() {
        let bytes = encode(&[("orders", &[0, 1, 2])]);
        // The user data (last 4 bytes) is optional to this decoder.
        for len in 0..bytes.len() - 4 {
            assert_eq!(decode(&bytes[..len]), None, "length {len}");
        }
    }

    #[test]
    fn absurd_counts_are_refused() {
        let mut bytes = 0i16.to_be_bytes().to_vec();
        bytes.extend_from_slice(&i32::MAX.to_be_bytes());
        assert_eq!(decode(&bytes), None);
        let mut bytes = 0i16.to_be_bytes().to_vec();
        bytes.extend_from_slice(&(-5i32).to_be_bytes());
        assert_eq!(decode(&bytes), None);
    }
}
