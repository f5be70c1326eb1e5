//! Row hashes and range fingerprints.
//!
//! A row hash is 128 bits. With `--checksum exact` it is a cryptographic
//! hash over the canonical encoding of the row's columns: blake3 (truncated)
//! where rangesync computes it itself, or md5 where a database server
//! computes it (servers have md5 built in; the encoding is the same, so a
//! server and rangesync agree on every row). With `--checksum fast` two
//! stores of one engine use that engine's cheapest built-in hashing instead
//! (see [`HashScheme`]).
//! A range fingerprint is `(count, lane sums)`: the hash read as two
//! big-endian 64-bit lanes, each summed mod 2^64. The sums are
//! order-independent, so a store may scan in any order, and a parent range's
//! fingerprint is the sum of its children's without rereading a row. Lanes
//! of 64 bits are what SQL servers can sum exactly. Two different multisets
//! of rows collide only with odds of about 2^-128 for data not crafted to.

use super::value::{CanonicalSink, Value};

/// Which hash function turns a row into its row hash. Both sides of a
/// comparison use the same one; the planner picks it from what the two
/// stores compute in place and from `--checksum` (docs/hashing.md).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum HashScheme {
    /// `exact`: blake3 of the canonical encoding, truncated to 128 bits:
    /// rangesync's own (and SQLite's, through the functions rangesync registers).
    #[default]
    Blake3,
    /// `exact`: md5 of the canonical encoding, what PostgreSQL and MySQL
    /// compute in place.
    Md5,
    /// `fast` between two SQLite files: xxh3-128 of the canonical
    /// encoding. Same values equal as `exact`, non-cryptographic odds.
    Xxh3,
    /// `fast` between two PostgreSQL servers: two independently seeded
    /// lanes of `hash_record_extended`, each mixed by `hashint8extended`.
    PgRecord,
    /// `fast` between two MariaDB (10.8+) servers: CRC32 and CRC32C of
    /// the row's MySQL text rendering, combined non-linearly.
    MyCrc,
    /// `fast` between two MySQL servers (no CRC32C): md5 of the row's
    /// MySQL text rendering.
    MyMd5,
}

/// `--checksum`: how rows are hashed when both stores are of one engine.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Checksum {
    /// The engine's cheapest built-in hashing where both sides are of one
    /// engine (non-cryptographic, 128 bits from two independent lanes);
    /// the exact encoding elsewhere.
    #[default]
    Fast,
    /// The canonical encoding under a cryptographic hash everywhere
    /// (audits: different rows collide only with cryptographic odds).
    Exact,
}

/// A hash function rangesync computes itself, over the canonical encoding.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RustHash {
    Blake3,
    Md5,
    Xxh3,
}

impl HashScheme {
    /// The same function computed by rangesync, where there is one: the
    /// schemes over the canonical encoding. The servers' fast schemes hash
    /// their own renderings of the values and exist only inside them.
    pub fn in_rust(self) -> Option<RustHash> {
        match self {
            HashScheme::Blake3 => Some(RustHash::Blake3),
            HashScheme::Md5 => Some(RustHash::Md5),
            HashScheme::Xxh3 => Some(RustHash::Xxh3),
            HashScheme::PgRecord | HashScheme::MyCrc | HashScheme::MyMd5 => None,
        }
    }

    /// Whether two values hash alike exactly when their canonical encodings
    /// are equal (whatever the column types). The other schemes hash an
    /// engine's own rendering, which depends on the declared type (a
    /// `decimal(12,2)` renders `1.50`), so they serve only columns
    /// declared alike on both sides.
    pub fn is_canonical(self) -> bool {
        self.in_rust().is_some()
    }

    /// The name shown in reports and logs.
    pub fn name(self) -> &'static str {
        match self {
            HashScheme::Blake3 => "blake3",
            HashScheme::Md5 => "md5",
            HashScheme::Xxh3 => "xxh3",
            HashScheme::PgRecord => "pg-record",
            HashScheme::MyCrc => "crc32",
            HashScheme::MyMd5 => "md5-text",
        }
    }
}

/// 128-bit row hash.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct RowHash(pub [u8; 16]);

impl RowHash {
    /// Hashes a row given as owned values, in the agreed column order, with
    /// the default scheme.
    pub fn of_values(values: &[Value]) -> RowHash {
        RowHash::of_values_with(RustHash::Blake3, values)
    }

    pub fn of_values_with(hash: RustHash, values: &[Value]) -> RowHash {
        let mut h = RowHasher::new();
        for v in values {
            v.encode(&mut h);
        }
        h.finish_with(hash)
    }

    /// The row hash from two 64-bit lanes (what a server's fast scheme
    /// returns per row).
    pub fn from_lanes(hi: u64, lo: u64) -> RowHash {
        let mut out = [0u8; 16];
        out[..8].copy_from_slice(&hi.to_be_bytes());
        out[8..].copy_from_slice(&lo.to_be_bytes());
        RowHash(out)
    }

    /// The two big-endian 64-bit lanes.
    pub fn lanes(&self) -> (u64, u64) {
        let hi = u64::from_be_bytes(self.0[..8].try_into().expect("8 bytes"));
        let lo = u64::from_be_bytes(self.0[8..].try_into().expect("8 bytes"));
        (hi, lo)
    }
}

/// Incremental row hasher: connectors feed it column by column through
/// [`CanonicalSink`] (the SQLite functions do so on borrowed data). The
/// encoding is gathered in a buffer and hashed in one call, which is about
/// twice as fast for rows of a few hundred bytes as streaming small pieces
/// into blake3; [`RowHasher::reset`] lets a caller reuse the buffer.
#[derive(Default)]
pub struct RowHasher {
    buf: Vec<u8>,
}

impl RowHasher {
    pub fn new() -> Self {
        RowHasher { buf: Vec::with_capacity(256) }
    }

    pub fn finish(&self) -> RowHash {
        self.finish_with(RustHash::Blake3)
    }

    pub fn finish_with(&self, hash: RustHash) -> RowHash {
        match hash {
            RustHash::Blake3 => {
                let full = blake3::hash(&self.buf);
                let mut out = [0u8; 16];
                out.copy_from_slice(&full.as_bytes()[..16]);
                RowHash(out)
            }
            RustHash::Md5 => {
                use md5::Digest;
                RowHash(md5::Md5::digest(&self.buf).into())
            }
            // Big-endian, like the lanes a fingerprint sums.
            RustHash::Xxh3 => RowHash(xxhash_rust::xxh3::xxh3_128(&self.buf).to_be_bytes()),
        }
    }

    /// Empties the buffer, keeping its allocation, for the next row.
    pub fn reset(&mut self) {
        self.buf.clear();
    }
}

impl CanonicalSink for RowHasher {
    fn put(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }
}

/// Count plus order-independent lane sums of the row hashes of a range.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Fingerprint {
    pub count: u64,
    /// Sum of the first lanes, mod 2^64.
    pub hi: u64,
    /// Sum of the second lanes, mod 2^64.
    pub lo: u64,
}

impl Fingerprint {
    pub const EMPTY: Fingerprint = Fingerprint { count: 0, hi: 0, lo: 0 };

    pub fn add_row(&mut self, h: RowHash) {
        let (hi, lo) = h.lanes();
        self.count += 1;
        self.hi = self.hi.wrapping_add(hi);
        self.lo = self.lo.wrapping_add(lo);
    }

    /// Combines two disjoint ranges' fingerprints into their union's.
    pub fn combine(self, other: Fingerprint) -> Fingerprint {
        Fingerprint {
            count: self.count + other.count,
            hi: self.hi.wrapping_add(other.hi),
            lo: self.lo.wrapping_add(other.lo),
        }
    }

    /// 24-byte wire form: count, hi, lo (each u64 LE). The SQLite aggregate
    /// returns this blob.
    pub fn to_bytes(self) -> [u8; 24] {
        let mut out = [0u8; 24];
        out[..8].copy_from_slice(&self.count.to_le_bytes());
        out[8..16].copy_from_slice(&self.hi.to_le_bytes());
        out[16..].copy_from_slice(&self.lo.to_le_bytes());
        out
    }

    pub fn from_bytes(b: &[u8]) -> Option<Fingerprint> {
        if b.len() != 24 {
            return None;
        }
        let word = |i: usize| b[i..i + 8].try_into().ok().map(u64::from_le_bytes);
        Some(Fingerprint { count: word(0)?, hi: word(8)?, lo: word(16)? })
    }

    /// From the exact decimal sums a SQL server returns (`sum()` of signed
    /// or unsigned 64-bit lanes, which may exceed 64 bits): reduced mod 2^64.
    pub fn from_sql_sums(count: u64, hi: &str, lo: &str) -> Option<Fingerprint> {
        fn reduce(s: &str) -> Option<u64> {
            let s = s.trim();
            if s.is_empty() {
                return Some(0);
            }
            Some(s.parse::<i128>().ok()?.rem_euclid(1i128 << 64) as u64)
        }
        Some(Fingerprint { count, hi: reduce(hi)?, lo: reduce(lo)? })
    }
}

impl std::iter::Sum for Fingerprint {
    fn sum<I: Iterator<Item = Fingerprint>>(iter: I) -> Fingerprint {
        iter.fold(Fingerprint::EMPTY, Fingerprint::combine)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(id: i64, name: &str) -> Vec<Value> {
        vec![Value::Int(id), Value::Text(name.into())]
    }

    fn fp(rows: &[Vec<Value>]) -> Fingerprint {
        let mut f = Fingerprint::EMPTY;
        for r in rows {
            f.add_row(RowHash::of_values(r));
        }
        f
    }

    #[test]
    fn fingerprint_ignores_order_and_composes_from_children() {
        let rows: Vec<_> = (0..100).map(|i| row(i, &format!("n{i}"))).collect();
        let mut reversed = rows.clone();
        reversed.reverse();
        assert_eq!(fp(&rows), fp(&reversed));
        let parent = fp(&rows);
        let children: Fingerprint = rows.chunks(7).map(fp).sum();
        assert_eq!(parent, children);
        assert_eq!(parent.count, 100);
    }

    #[test]
    fn any_single_change_changes_the_fingerprint() {
        let base: Vec<_> = (0..50).map(|i| row(i, "x")).collect();
        let reference = fp(&base);
        let mut changed = base.clone();
        changed[49][1] = Value::Text("y".into());
        assert_ne!(fp(&changed), reference);
        let mut missing = base.clone();
        missing.remove(0);
        assert_ne!(fp(&missing), reference);
        let mut duplicated = base.clone();
        duplicated.push(base[3].clone());
        assert_ne!(fp(&duplicated), reference, "a duplicate does not cancel out");
        let mut swapped = base.clone();
        swapped[0][1] = Value::Text("x ".into());
        assert_ne!(fp(&swapped), reference);
    }

    #[test]
    fn null_and_empty_and_null_text_hash_differently_in_a_row() {
        let a = RowHash::of_values(&[Value::Int(1), Value::Null]);
        let b = RowHash::of_values(&[Value::Int(1), Value::Text(String::new())]);
        let c = RowHash::of_values(&[Value::Int(1), Value::Text("NULL".into())]);
        assert!(a != b && b != c && a != c);
    }

    #[test]
    fn wire_form_round_trips() {
        let f = Fingerprint { count: 12345, hi: u64::MAX - 7, lo: 3 };
        assert_eq!(Fingerprint::from_bytes(&f.to_bytes()), Some(f));
        assert_eq!(Fingerprint::from_bytes(&[0; 3]), None);
    }

    #[test]
    fn sql_sums_reduce_to_the_same_lanes() {
        // Two rows whose lanes, read as signed (PostgreSQL) or unsigned
        // (MySQL) 64-bit integers, sum past 64 bits.
        let a = RowHash([0xff; 16]);
        let b = RowHash([0x80; 16]);
        let mut f = Fingerprint::EMPTY;
        f.add_row(a);
        f.add_row(b);
        let signed = |h: &RowHash| h.lanes().0 as i64 as i128;
        let unsigned = |h: &RowHash| h.lanes().0 as i128;
        let s_sum = (signed(&a) + signed(&b)).to_string();
        let u_sum = (unsigned(&a) + unsigned(&b)).to_string();
        assert_eq!(Fingerprint::from_sql_sums(2, &s_sum, &s_sum).unwrap(), f);
        assert_eq!(Fingerprint::from_sql_sums(2, &u_sum, &u_sum).unwrap(), f);
        assert_eq!(Fingerprint::from_sql_sums(0, "", "").unwrap(), Fingerprint::EMPTY);
    }

    #[test]
    fn md5_scheme_is_md5_of_the_canonical_encoding() {
        let row = [Value::Int(1), Value::Text("a".into())];
        let mut bytes = Vec::new();
        for v in &row {
            v.encode(&mut bytes);
        }
        use md5::Digest;
        let expected: [u8; 16] = md5::Md5::digest(&bytes).into();
        assert_eq!(RowHash::of_values_with(RustHash::Md5, &row).0, expected);
        assert_ne!(RowHash::of_values_with(RustHash::Md5, &row), RowHash::of_values(&row));
    }

    #[test]
    fn row_hash_is_stable_across_releases() {
        // Pinned: a change here changes every stored fingerprint and state file.
        let h = RowHash::of_values(&[Value::Int(1), Value::Text("a".into()), Value::Null]);
        let hex: String = h.0.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(hex, PINNED_ROW_HASH);
    }

    const PINNED_ROW_HASH: &str = "804feb9ffcf04aada069e4e7d1a3830e";
}
