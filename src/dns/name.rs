//! Name keys: how query names and served names meet in the maps.
//!
//! A key is the name in lowercase presentation form without the trailing dot
//! (`vpce-0abc-xyz.ec2.us-east-1.vpce.amazonaws.com`). Names compare case-insensitively
//! (RFC 4343), so keys are folded once when the snapshot is built and once per query.
//! A label that contains a `.` byte on the wire gets a NUL in its place: no served name
//! contains NUL, so such a label never matches, and it still counts as one label.

/// The longest name on the wire (RFC 1035 §3.1), and so the longest key.
pub(crate) const MAX_WIRE_NAME: usize = 255;

/// Why a query name cannot be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NameError {
    /// The packet ends inside the name.
    Truncated,
    /// A compression pointer or a reserved label type (not allowed in a query's question).
    LabelType,
    /// Longer than 255 bytes on the wire.
    TooLong,
}

/// A key read from a query, on the stack.
#[derive(Clone)]
pub(crate) struct KeyBuf {
    bytes: [u8; MAX_WIRE_NAME],
    len: usize,
}

impl KeyBuf {
    /// The key bytes.
    #[inline]
    pub(crate) fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len]
    }
}

/// Reads the uncompressed name at `packet[start..]` into a folded key; returns the key
/// and the offset just after the name.
pub(crate) fn read_qname(packet: &[u8], start: usize) -> Result<(KeyBuf, usize), NameError> {
    let mut key = KeyBuf {
        bytes: [0; MAX_WIRE_NAME],
        len: 0,
    };
    let mut pos = start;
    loop {
        let &len = packet.get(pos).ok_or(NameError::Truncated)?;
        let len = usize::from(len);
        if len == 0 {
            pos += 1;
            break;
        }
        if len > 63 {
            return Err(NameError::LabelType);
        }
        let label = packet
            .get(pos + 1..pos + 1 + len)
            .ok_or(NameError::Truncated)?;
        // Wire length so far plus this label plus the root byte.
        if pos + 1 + len - start + 1 > MAX_WIRE_NAME {
            return Err(NameError::TooLong);
        }
        if key.len > 0 {
            key.bytes[key.len] = b'.';
            key.len += 1;
        }
        for &b in label {
            key.bytes[key.len] = match b {
                b'.' => 0,
                _ => b.to_ascii_lowercase(),
            };
            key.len += 1;
        }
        pos += 1 + len;
    }
    Ok((key, pos))
}

/// The key of a name given as text: lowercase, without a trailing dot.
pub(crate) fn key_of(name: &str) -> Vec<u8> {
    let name = name.strip_suffix('.').unwrap_or(name);
    name.bytes().map(|b| b.to_ascii_lowercase()).collect()
}

/// The proper suffixes of `key` (each parent name), longest first.
#[inline]
pub(crate) fn parents(key: &[u8]) -> impl Iterator<Item = &[u8]> {
    key.iter()
        .enumerate()
        .filter(|&(_, &b)| b == b'.')
        .map(move |(i, _)| &key[i + 1..])
}

/// Whether `key` is `zone` or a name below it.
#[inline]
pub(crate) fn is_at_or_below(key: &[u8], zone: &[u8]) -> bool {
    key.len() >= zone.len()
        && key.ends_with(zone)
        && (key.len() == zone.len() || key[key.len() - zone.len() - 1] == b'.')
}

/// Appends `key` (a served name: labels of at most 63 bytes) in wire form.
pub(crate) fn write_wire(key: &[u8], out: &mut Vec<u8>) {
    if !key.is_empty() {
        for label in key.split(|&b| b == b'.') {
            out.push(u8::try_from(label.len()).unwrap_or(63).min(63));
            out.extend_from_slice(&label[..label.len().min(63)]);
        }
    }
    out.push(0);
}

/// The length of `key` in wire form.
#[inline]
pub(crate) fn wire_len(key: &[u8]) -> usize {
    if key.is_empty() { 1 } else { key.len() + 2 }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wire(name: &str) -> Vec<u8> {
        let mut out = Vec::new();
        write_wire(name.as_bytes(), &mut out);
        out
    }

    #[test]
    fn folds_case_and_reads_to_the_end() {
        let mut packet = wire("VPCE-0ABC.Ec2.us-east-1.vpce.amazonaws.com");
        packet.extend_from_slice(&[0, 1, 0, 1]);
        let (key, end) = read_qname(&packet, 0).unwrap();
        assert_eq!(
            key.as_bytes(),
            b"vpce-0abc.ec2.us-east-1.vpce.amazonaws.com"
        );
        assert_eq!(end, packet.len() - 4);
        assert_eq!(wire_len(key.as_bytes()), end);
    }

    #[test]
    fn root_and_dotted_labels() {
        let (key, end) = read_qname(&[0], 0).unwrap();
        assert_eq!((key.as_bytes(), end), (&b""[..], 1));
        let (key, _) = read_qname(&[3, b'a', b'.', b'B', 1, b'c', 0], 0).unwrap();
        assert_eq!(key.as_bytes(), b"a\0b.c");
    }

    #[test]
    fn rejects_pointers_truncation_and_long_names() {
        assert_eq!(read_qname(&[0xc0, 12], 0).err(), Some(NameError::LabelType));
        assert_eq!(read_qname(&[5, b'a'], 0).err(), Some(NameError::Truncated));
        assert_eq!(read_qname(&[], 0).err(), Some(NameError::Truncated));
        let mut long = Vec::new();
        for _ in 0..5 {
            long.push(63);
            long.extend_from_slice(&[b'a'; 63]);
        }
        long.push(0);
        assert_eq!(read_qname(&long, 0).err(), Some(NameError::TooLong));
        // 4 labels of 63 = 256 bytes with the root: one too many; 3 of 63 + one of 61 fits.
        let mut fits = Vec::new();
        for len in [63u8, 63, 63, 61] {
            fits.push(len);
            fits.extend(std::iter::repeat_n(b'a', usize::from(len)));
        }
        fits.push(0);
        assert_eq!(fits.len(), 255);
        assert!(read_qname(&fits, 0).is_ok());
    }

    #[test]
    fn parents_and_zones() {
        let parents: Vec<_> = parents(b"a.b.c").collect();
        assert_eq!(parents, vec![&b"b.c"[..], &b"c"[..]]);
        assert!(is_at_or_below(
            b"x.s3.us-east-1.amazonaws.com",
            b"s3.us-east-1.amazonaws.com"
        ));
        assert!(is_at_or_below(
            b"s3.us-east-1.amazonaws.com",
            b"s3.us-east-1.amazonaws.com"
        ));
        assert!(!is_at_or_below(
            b"xs3.us-east-1.amazonaws.com",
            b"s3.us-east-1.amazonaws.com"
        ));
    }
}
