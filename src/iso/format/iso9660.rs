//! ECMA-119 (ISO 9660) structures: volume descriptors (§8, [`vd`]), directory records
//! (§9.1, [`dr`]), path table records (§9.4, [`pt`]) and the SUSP / Rock Ridge entries of a
//! record's system-use area (IEEE P1281 / P1282, [`susp`]).
#![deny(clippy::indexing_slicing, clippy::arithmetic_side_effects)]

/// The standard identifier of every volume descriptor (bytes 1..6).
pub const STANDARD_ID: &[u8; 5] = b"CD001";
/// Sector of the first volume descriptor (the primary on every image written here).
pub const FIRST_DESCRIPTOR_SECTOR: u32 = 16;

/// Volume descriptors (§8): the fields the reader and writer use, as byte offsets inside
/// the 2048-byte descriptor.
pub mod vd {
    use std::ops::Range;

    use super::super::{be32, both32, le32};

    /// Descriptor type (0 boot record, 1 primary, 2 supplementary, 255 terminator).
    pub const TYPE: usize = 0;
    pub const TYPE_BOOT_RECORD: u8 = 0;
    pub const TYPE_PRIMARY: u8 = 1;
    pub const TYPE_SUPPLEMENTARY: u8 = 2;
    pub const TYPE_TERMINATOR: u8 = 255;
    /// "CD001".
    pub const STANDARD_ID: Range<usize> = 1..6;
    /// Volume identifier: 32 a-/d-characters (UCS-2 big-endian in a Joliet SVD).
    pub const VOLUME_ID: usize = 40;
    pub const VOLUME_ID_LEN: usize = 32;
    /// Volume space size in sectors (both byte orders, 8 bytes).
    pub const VOLUME_SPACE_SIZE: usize = 80;
    /// Its big-endian half.
    pub const VOLUME_SPACE_SIZE_BE: usize = 84;
    /// Escape sequences of a supplementary descriptor (Joliet: `%/@`, `%/C`, `%/E`).
    pub const ESCAPES: Range<usize> = 88..91;
    pub const JOLIET_LEVELS: [(&[u8; 3], u8); 3] = [(b"%/@", 1), (b"%/C", 2), (b"%/E", 3)];
    /// Path table size (both byte orders), then the L table, optional L, M table, optional
    /// M locations (24 bytes in all, [`path_table_fields`]).
    pub const PATH_TABLE_SIZE: usize = 132;
    pub const L_PATH_TABLE: usize = 140;
    pub const M_PATH_TABLE: usize = 148;
    pub const PATH_TABLE_FIELDS_LEN: usize = 24;
    /// The 34-byte directory record of the root directory.
    pub const ROOT_RECORD: usize = 156;
    /// Application use (isomd5sum keeps its checksum here), 512 bytes.
    pub const APP_USE: usize = 883;
    pub const APP_USE_LEN: usize = 512;

    /// Whether `b` starts like a volume descriptor ("CD001" at bytes 1..6).
    pub fn has_standard_id(b: &[u8]) -> bool {
        b.get(STANDARD_ID) == Some(super::STANDARD_ID.as_slice())
    }

    /// The Joliet level named by a supplementary descriptor's escape sequences.
    pub fn joliet_level(b: &[u8]) -> Option<u8> {
        let esc = b.get(ESCAPES)?;
        JOLIET_LEVELS
            .iter()
            .find(|(seq, _)| seq.as_slice() == esc)
            .map(|&(_, level)| level)
    }

    /// The volume space size (little-endian half).
    pub fn volume_space_size(b: &[u8]) -> u32 {
        le32(b, VOLUME_SPACE_SIZE)
    }

    /// Path table size, L table LBA, M table LBA.
    pub fn path_tables(b: &[u8]) -> (u32, u32, u32) {
        (
            le32(b, PATH_TABLE_SIZE),
            le32(b, L_PATH_TABLE),
            be32(b, M_PATH_TABLE),
        )
    }

    /// The 24 bytes at [`PATH_TABLE_SIZE`]: size (both orders), L table, no optional L
    /// table, M table, no optional M table.
    pub fn path_table_fields(size: u32, l_lba: u32, m_lba: u32) -> [u8; PATH_TABLE_FIELDS_LEN] {
        let mut f = [0u8; PATH_TABLE_FIELDS_LEN];
        super::super::put(&mut f, 0, &both32(size));
        super::super::put(&mut f, 8, &l_lba.to_le_bytes());
        super::super::put(&mut f, 16, &m_lba.to_be_bytes());
        f
    }
}

/// Directory records (§9.1).
pub mod dr {
    use std::ops::Range;

    use super::super::{both16, both32, le32, put};

    /// Length of the record (first byte); 0 = rest of the sector unused.
    pub const LEN: usize = 0;
    /// Extended attribute record length (sectors before the data).
    pub const EAR_LEN: usize = 1;
    /// Extent LBA and data length, both byte orders (8 + 8 bytes).
    pub const EXTENT: usize = 2;
    pub const DATA_LEN: usize = 10;
    /// Both extent fields: what an extent fix rewrites.
    pub const EXTENT_FIELDS: Range<usize> = 2..18;
    pub const EXTENT_FIELDS_LEN: usize = 16;
    /// Recording date (7 bytes).
    pub const DATE: usize = 18;
    pub const FLAGS: usize = 25;
    pub const FLAG_DIR: u8 = 0x02;
    pub const FLAG_MULTI_EXTENT: u8 = 0x80;
    pub const NAME_LEN: usize = 32;
    pub const NAME: usize = 33;
    /// The fixed part before the identifier.
    pub const FIXED_LEN: usize = 33;
    /// Shortest record (fixed part and a one-byte identifier).
    pub const MIN_LEN: usize = 34;
    /// Smallest directory: `.` and `..`, two records of at least [`MIN_LEN`] bytes.
    pub const MIN_DIR_LEN: u32 = 68;
    /// Longest record (the length is one byte).
    pub const MAX_LEN: usize = 255;
    /// Identifiers of `.` and `..`.
    pub const DOT: [u8; 1] = [0];
    pub const DOTDOT: [u8; 1] = [1];

    /// A record's bytes, decoded on demand (fields of a short record read as 0 / empty).
    #[derive(Debug, Clone, Copy)]
    pub struct DirRecord<'a>(pub &'a [u8]);

    impl<'a> DirRecord<'a> {
        pub fn len(&self) -> u8 {
            self.0.get(LEN).copied().unwrap_or(0)
        }
        pub fn is_empty(&self) -> bool {
            self.len() == 0
        }
        pub fn ear_len(&self) -> u8 {
            self.0.get(EAR_LEN).copied().unwrap_or(0)
        }
        /// The extent LBA as stored (without the extended attribute record).
        pub fn extent(&self) -> u32 {
            le32(self.0, EXTENT)
        }
        pub fn data_len(&self) -> u32 {
            le32(self.0, DATA_LEN)
        }
        pub fn flags(&self) -> u8 {
            self.0.get(FLAGS).copied().unwrap_or(0)
        }
        pub fn name_len(&self) -> usize {
            usize::from(self.0.get(NAME_LEN).copied().unwrap_or(0))
        }
        /// The identifier, if the record holds all of it.
        pub fn ident(&self) -> Option<&'a [u8]> {
            self.0.get(NAME..NAME.checked_add(self.name_len())?)
        }
    }

    /// Where the system-use area starts: after the identifier and the pad byte that makes
    /// an even-length identifier end on an even offset.
    pub fn su_start(name_len: usize) -> usize {
        name_len
            .saturating_add(FIXED_LEN)
            .saturating_add(usize::from(name_len.is_multiple_of(2)))
    }

    /// The extent fields (LBA and length, both byte orders) of a record naming `lba`/`size`.
    pub fn extent_fields(lba: u32, size: u32) -> [u8; EXTENT_FIELDS_LEN] {
        let mut f = [0u8; EXTENT_FIELDS_LEN];
        put(&mut f, 0, &both32(lba));
        put(&mut f, 8, &both32(size));
        f
    }

    /// The LBA and size named by extent fields (from [`extent_fields`]).
    pub fn extent_of_fields(fields: &[u8]) -> (u32, u32) {
        (le32(fields, 0), le32(fields, 8))
    }

    /// Overwrites a record's extent fields with `fields` (from [`extent_fields`]).
    pub fn set_extent_fields(rec: &mut [u8], fields: &[u8]) {
        put(rec, EXTENT, fields);
    }

    /// A new record (volume sequence number 1, no extended attributes, not interleaved):
    /// the caller has padded `su` so that the whole record has an even length of at most
    /// [`MAX_LEN`] bytes.
    pub fn encode(
        lba: u32,
        size: u32,
        date: &[u8; 7],
        flags: u8,
        ident: &[u8],
        su: &[u8],
    ) -> Vec<u8> {
        let len = su_start(ident.len()).saturating_add(su.len());
        let mut r = Vec::with_capacity(len);
        r.push(u8::try_from(len).unwrap_or(u8::MAX));
        r.push(0);
        r.extend_from_slice(&both32(lba));
        r.extend_from_slice(&both32(size));
        r.extend_from_slice(date);
        r.push(flags);
        r.push(0); // file unit size
        r.push(0); // interleave gap
        r.extend_from_slice(&both16(1)); // volume sequence number
        r.push(u8::try_from(ident.len()).unwrap_or(u8::MAX));
        r.extend_from_slice(ident);
        if ident.len().is_multiple_of(2) {
            r.push(0);
        }
        r.extend_from_slice(su);
        r
    }
}

/// Path table records (§9.4): identifier length, extended attribute length, extent LBA and
/// parent directory number (in the table's byte order), identifier, pad to even.
pub mod pt {
    pub const NAME_LEN: usize = 0;
    pub const EAR_LEN: usize = 1;
    pub const EXTENT: usize = 2;
    pub const PARENT: usize = 6;
    pub const NAME: usize = 8;

    /// Appends one record to a little-endian (L) or big-endian (M) table.
    pub fn encode(out: &mut Vec<u8>, ident: &[u8], parent: u16, lba: u32, big_endian: bool) {
        out.push(u8::try_from(ident.len()).unwrap_or(u8::MAX));
        out.push(0);
        if big_endian {
            out.extend_from_slice(&lba.to_be_bytes());
            out.extend_from_slice(&parent.to_be_bytes());
        } else {
            out.extend_from_slice(&lba.to_le_bytes());
            out.extend_from_slice(&parent.to_le_bytes());
        }
        out.extend_from_slice(ident);
        if ident.len() % 2 == 1 {
            out.push(0);
        }
    }
}

/// SUSP entries (signature, length, version, data) and the Rock Ridge ones used here.
pub mod susp {
    /// Signature (2), length (1), version (1).
    pub const HEADER_LEN: usize = 4;
    /// SP: check bytes 0xBE 0xEF, then LEN_SKP.
    pub const SP_CHECK: std::ops::Range<usize> = 4..6;
    pub const SP_CHECK_BYTES: [u8; 2] = [0xBE, 0xEF];
    pub const SP_LEN_SKP: usize = 6;
    pub const SP_MIN_LEN: usize = 7;
    /// CE: block, offset and length of the continuation area (both byte orders each).
    pub const CE_BLOCK: usize = 4;
    pub const CE_OFFSET: usize = 12;
    pub const CE_LEN: usize = 20;
    pub const CE_MIN_LEN: usize = 28;
    /// NM: flags, then the name.
    pub const NM_FLAGS: usize = 4;
    pub const NM_NAME: usize = 5;
    pub const NM_CURRENT: u8 = 0x02;
    pub const NM_PARENT: u8 = 0x04;
    /// SL: flags, then components (flags, length, content).
    pub const SL_COMPONENTS: usize = 5;
    pub const SL_CONTINUE: u8 = 0x01;
    pub const SL_CURRENT: u8 = 0x02;
    pub const SL_PARENT: u8 = 0x04;
    pub const SL_ROOT: u8 = 0x08;
    /// PX: mode, links, uid, gid (both byte orders each), then the serial number (RRIP 1.12).
    pub const PX_MODE: usize = 4;
    pub const PX_NLINK: usize = 12;
    pub const PX_INO: usize = 36;
    /// PX lengths: RRIP 1.10 (no serial number) and 1.12.
    pub const PX_LEN_RRIP_1_10: u8 = 36;
    pub const PX_LEN_RRIP_1_12: u8 = 44;
    /// CL: location of the relocated directory.
    pub const CL_LOCATION: usize = 4;
    pub const CL_MIN_LEN: usize = 12;
    /// TF with modify, access and attribute-change times in the 7-byte form.
    pub const TF_FLAGS_MAC: u8 = 0x0E;
    pub const TF_LEN_3_SHORT: u8 = 26;
}

#[cfg(test)]
#[allow(clippy::indexing_slicing)] // tests index records they built
mod tests {
    use super::*;

    #[test]
    fn a_record_encodes_and_decodes() {
        let date = [124, 1, 2, 3, 4, 5, 0];
        let r = dr::encode(20, 4096, &date, dr::FLAG_DIR, b"DIR", &[]);
        assert_eq!(r.len(), 36);
        let v = dr::DirRecord(&r);
        assert_eq!((v.len(), v.extent(), v.data_len()), (36, 20, 4096));
        assert_eq!(v.flags(), dr::FLAG_DIR);
        assert_eq!(v.ident(), Some(b"DIR".as_slice()));
        assert_eq!(&r[dr::DATE..dr::DATE + 7], &date);
        assert_eq!(&r[28..32], &[1, 0, 0, 1]);
        // An even identifier gets a pad byte before the system-use area.
        let r = dr::encode(1, 2, &date, 0, b"AB", b"XY");
        assert_eq!(r.len(), 38);
        assert_eq!(dr::su_start(2), 36);
        assert_eq!(&r[36..], b"XY");
        let mut r = r;
        dr::set_extent_fields(&mut r, &dr::extent_fields(7, 9));
        assert_eq!(&r[2..18], &[7, 0, 0, 0, 0, 0, 0, 7, 9, 0, 0, 0, 0, 0, 0, 9]);
    }

    #[test]
    fn path_table_records_in_both_orders() {
        let mut l = Vec::new();
        pt::encode(&mut l, b"A", 1, 0x0102_0304, false);
        assert_eq!(l, [1, 0, 4, 3, 2, 1, 1, 0, b'A', 0]);
        let mut m = Vec::new();
        pt::encode(&mut m, b"AB", 2, 5, true);
        assert_eq!(m, [2, 0, 0, 0, 0, 5, 0, 2, b'A', b'B']);
        let f = vd::path_table_fields(10, 20, 30);
        assert_eq!(
            vd::path_tables(&[[0u8; 132].as_slice(), &f].concat()),
            (10, 20, 30)
        );
    }
}
