//! The appended module signature (`include/linux/module_signature.h`):
//! `[ELF][PKCS#7 DER][struct module_signature, 12 bytes]["~Module signature appended~\n"]`,
//! and X.509 certificates (the kernel's built-in trusted keys).

use cms::content_info::ContentInfo;
use cms::signed_data::{SignedData, SignerIdentifier};
use der::{Decode, Encode};
use rsa::pkcs1::DecodeRsaPublicKey;
use serde::Serialize;
use sha2::Digest;
use x509_cert::ext::pkix::SubjectKeyIdentifier;
use x509_cert::Certificate;

use super::KmodError;

/// The marker the kernel looks for at the very end of a signed module.
pub const MODULE_SIG_MAGIC: &[u8] = b"~Module signature appended~\n";
/// `sizeof(struct module_signature)`.
const MODULE_SIGNATURE_LEN: usize = 12;
/// `PKEY_ID_PKCS7`.
const PKEY_ID_PKCS7: u8 = 2;

/// Who signed a module, as the PKCS#7 SignerInfo names the key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ModuleSignature {
    /// Issuer distinguished name (RFC 4514 form), when the signer is named by issuer+serial.
    pub issuer: Option<String>,
    /// The issuer's common name (what `modinfo` shows as `signer`).
    pub issuer_cn: Option<String>,
    /// Serial number, hex (as `modinfo` shows `sig_key`), when named by issuer+serial.
    pub serial: Option<String>,
    /// Subject key identifier, hex, when the signer is named by it (`sign-file -k`).
    pub subject_key_id: Option<String>,
    /// Digest algorithm of the signature (`sha256`, `sha512`, ...).
    pub hash_algorithm: String,
    /// Signature algorithm (`rsaEncryption`, `ecdsa-with-SHA256`, ...).
    pub signature_algorithm: String,
    /// Length of the PKCS#7 blob.
    pub length: usize,
    /// The signature value (for [`ModuleSignature::verify_with`]).
    #[serde(skip)]
    signature_value: Vec<u8>,
    /// DER of the authenticated attributes (a SET OF), when present: then they are what
    /// was signed, and their messageDigest must equal the content's digest.
    #[serde(skip)]
    signed_attrs: Option<Vec<u8>>,
    #[serde(skip)]
    message_digest: Option<Vec<u8>>,
    /// Digest of the signed content (the module without its signature), with
    /// `hash_algorithm`; None for an algorithm remaster does not compute.
    #[serde(skip)]
    content_digest: Option<Vec<u8>>,
}

/// What checking a signature's cryptography gives, as the kernel's `pkcs7_verify()` and
/// `verify_signature()` would decide it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cryptography {
    Valid,
    /// The kernel would return -EKEYREJECTED: the module was changed after signing (or
    /// signed with another key than the one named).
    Invalid(String),
    /// An algorithm remaster does not verify (ECDSA, SHA-1, SHA-3): the key match alone
    /// is reported.
    Unchecked(String),
}

impl ModuleSignature {
    /// `pkcs7_digest()`: with authenticated attributes, their messageDigest must equal the
    /// digest of the module. The kernel checks this before it looks for the key, so a
    /// mismatch is refused (-EKEYREJECTED) whoever signed.
    pub fn digest_mismatch(&self) -> Option<String> {
        match (&self.message_digest, &self.content_digest) {
            (Some(signed), Some(actual)) if signed != actual => Some(format!(
                "the signed {} digest of the module does not match its contents",
                self.hash_algorithm
            )),
            _ => None,
        }
    }

    /// Verifies the signature with `cert`'s public key (RSA PKCS#1 v1.5, the scheme
    /// `sign-file` uses with RSA keys).
    pub fn verify_with(&self, cert: &TrustedCert) -> Cryptography {
        // `content_digest` is set exactly when `digest_info` knows the algorithm.
        let (Some(content_digest), Some((prefix, hash))) =
            (&self.content_digest, digest_info(&self.hash_algorithm))
        else {
            return Cryptography::Unchecked(format!(
                "{} digests are not verified by remaster",
                self.hash_algorithm
            ));
        };
        let rsa_signature = self.signature_algorithm == "rsaEncryption"
            || self.signature_algorithm.ends_with("WithRSAEncryption");
        let Some(key_bits) = cert.rsa_key.as_deref().filter(|_| rsa_signature) else {
            return Cryptography::Unchecked(format!(
                "{} signatures are not verified by remaster",
                self.signature_algorithm
            ));
        };
        let Ok(key) = rsa::RsaPublicKey::from_pkcs1_der(key_bits) else {
            return Cryptography::Invalid(format!(
                "the RSA key of \"{}\" cannot be read",
                cert.subject
            ));
        };
        let signed = match &self.signed_attrs {
            Some(attrs) => hash(attrs),
            None => content_digest.clone(),
        };
        let scheme = rsa::Pkcs1v15Sign {
            hash_len: Some(signed.len()),
            prefix: prefix.into(),
        };
        match key.verify(scheme, &signed, &self.signature_value) {
            Ok(()) => Cryptography::Valid,
            Err(_) => Cryptography::Invalid(format!(
                "the signature does not verify with the key of \"{}\"",
                cert.subject
            )),
        }
    }
}

type HashFn = fn(&[u8]) -> Vec<u8>;

/// The DER DigestInfo prefix (RFC 8017 9.2, note 1) and the hash function for a digest
/// algorithm name; None for those remaster does not verify.
fn digest_info(algorithm: &str) -> Option<(&'static [u8], HashFn)> {
    const SHA224: &[u8] = &[
        0x30, 0x2d, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x04,
        0x05, 0x00, 0x04, 0x1c,
    ];
    const SHA256: &[u8] = &[
        0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01,
        0x05, 0x00, 0x04, 0x20,
    ];
    const SHA384: &[u8] = &[
        0x30, 0x41, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x02,
        0x05, 0x00, 0x04, 0x30,
    ];
    const SHA512: &[u8] = &[
        0x30, 0x51, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x03,
        0x05, 0x00, 0x04, 0x40,
    ];
    match algorithm {
        "sha224" => Some((SHA224, |d| sha2::Sha224::digest(d).to_vec())),
        "sha256" => Some((SHA256, |d| sha2::Sha256::digest(d).to_vec())),
        "sha384" => Some((SHA384, |d| sha2::Sha384::digest(d).to_vec())),
        "sha512" => Some((SHA512, |d| sha2::Sha512::digest(d).to_vec())),
        _ => None,
    }
}

/// Splits a module file into (ELF bytes, signature if present). A file without the marker
/// is unsigned; a file with the marker but an inconsistent trailer is an error (the kernel
/// would refuse it as a bad signature: -EBADMSG).
pub fn split_signature(data: &[u8]) -> Result<(&[u8], Option<ModuleSignature>), KmodError> {
    let Some(body_len) = data.len().checked_sub(MODULE_SIG_MAGIC.len()) else {
        return Ok((data, None));
    };
    if data.get(body_len..) != Some(MODULE_SIG_MAGIC) {
        return Ok((data, None));
    }
    let bad = |what: &str| KmodError::Signature(format!("malformed module signature: {what}"));
    let info_start = body_len
        .checked_sub(MODULE_SIGNATURE_LEN)
        .ok_or_else(|| bad("trailer shorter than struct module_signature"))?;
    let info = data
        .get(info_start..body_len)
        .ok_or_else(|| bad("truncated"))?;
    let id_type = info[2];
    let sig_len = u32::from_be_bytes([info[8], info[9], info[10], info[11]]) as usize;
    if id_type != PKEY_ID_PKCS7 {
        return Err(bad(&format!("id_type {id_type} is not PKCS#7 (2)")));
    }
    let sig_start = info_start
        .checked_sub(sig_len)
        .ok_or_else(|| bad(&format!("sig_len {sig_len} exceeds the file")))?;
    let pkcs7 = data
        .get(sig_start..info_start)
        .ok_or_else(|| bad("truncated"))?;
    let elf = data.get(..sig_start).ok_or_else(|| bad("truncated"))?;
    let mut signature = parse_pkcs7(pkcs7)?;
    signature.content_digest = digest_info(&signature.hash_algorithm).map(|(_, hash)| hash(elf));
    Ok((elf, Some(signature)))
}

/// Parses the detached PKCS#7 SignedData of a module signature.
pub fn parse_pkcs7(der_bytes: &[u8]) -> Result<ModuleSignature, KmodError> {
    let bad = |e: der::Error| KmodError::Signature(format!("malformed PKCS#7 signature: {e}"));
    let info = ContentInfo::from_der(der_bytes).map_err(bad)?;
    let signed: SignedData = info.content.decode_as().map_err(bad)?;
    let signer =
        signed.signer_infos.0.iter().next().ok_or_else(|| {
            KmodError::Signature("malformed PKCS#7 signature: no SignerInfo".into())
        })?;
    let (issuer, issuer_cn, serial, subject_key_id) = match &signer.sid {
        SignerIdentifier::IssuerAndSerialNumber(isn) => (
            Some(isn.issuer.to_string()),
            common_name(&isn.issuer),
            Some(hex(isn.serial_number.as_bytes())),
            None,
        ),
        SignerIdentifier::SubjectKeyIdentifier(skid) => {
            (None, None, None, Some(hex(skid.0.as_bytes())))
        }
    };
    const MESSAGE_DIGEST: der::asn1::ObjectIdentifier =
        der::asn1::ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.4");
    let signed_attrs = signer
        .signed_attrs
        .as_ref()
        .map(|attrs| attrs.to_der())
        .transpose()
        .map_err(bad)?;
    let message_digest = signer
        .signed_attrs
        .iter()
        .flat_map(|attrs| attrs.iter())
        .find(|a| a.oid == MESSAGE_DIGEST)
        .and_then(|a| a.values.iter().next())
        .and_then(|v| v.decode_as::<der::asn1::OctetString>().ok())
        .map(|o| o.as_bytes().to_vec());
    Ok(ModuleSignature {
        issuer,
        issuer_cn,
        serial,
        subject_key_id,
        hash_algorithm: oid_name(&signer.digest_alg.oid),
        signature_algorithm: oid_name(&signer.signature_algorithm.oid),
        length: der_bytes.len(),
        signature_value: signer.signature.as_bytes().to_vec(),
        signed_attrs,
        message_digest,
        content_digest: None,
    })
}

/// A certificate the kernel trusts for module signatures (its built-in keyring).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TrustedCert {
    pub subject: String,
    pub issuer: String,
    /// Serial number, hex.
    pub serial: String,
    /// Subject key identifier extension, hex, if present.
    pub subject_key_id: Option<String>,
    /// Given by the user as enrolled in MOK/db (`--trust-key`), not built into the kernel.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub enrolled: bool,
    /// The RSAPublicKey DER of an RSA certificate (for [`ModuleSignature::verify_with`]).
    #[serde(skip)]
    rsa_key: Option<Vec<u8>>,
}

impl TrustedCert {
    /// Parses one DER certificate.
    pub fn from_der(der_bytes: &[u8]) -> Result<TrustedCert, KmodError> {
        let cert = Certificate::from_der(der_bytes)
            .map_err(|e| KmodError::Signature(format!("malformed X.509 certificate: {e}")))?;
        Ok(TrustedCert::from_certificate(&cert))
    }

    /// A certificate file (DER, as ELRepo publishes its key, or PEM) that the user says is
    /// enrolled in MOK/db on the target machine (`--trust-key`).
    pub fn enrolled_from_file_bytes(bytes: &[u8]) -> Result<TrustedCert, KmodError> {
        use der::DecodePem;
        let text_start = bytes
            .iter()
            .position(|b| !b.is_ascii_whitespace())
            .unwrap_or(0);
        let cert = if bytes
            .get(text_start..)
            .is_some_and(|b| b.starts_with(b"-----BEGIN"))
        {
            Certificate::from_pem(bytes.get(text_start..).unwrap_or_default())
        } else {
            Certificate::from_der(bytes)
        }
        .map_err(|e| KmodError::Signature(format!("not an X.509 certificate (DER or PEM): {e}")))?;
        let mut trusted = TrustedCert::from_certificate(&cert);
        trusted.enrolled = true;
        Ok(trusted)
    }

    fn from_certificate(cert: &Certificate) -> TrustedCert {
        let tbs = &cert.tbs_certificate;
        let subject_key_id = tbs
            .get::<SubjectKeyIdentifier>()
            .ok()
            .flatten()
            .map(|(_, skid)| hex(skid.0.as_bytes()));
        const RSA_ENCRYPTION: der::asn1::ObjectIdentifier =
            der::asn1::ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
        let spki = &tbs.subject_public_key_info;
        let rsa_key = (spki.algorithm.oid == RSA_ENCRYPTION)
            .then(|| spki.subject_public_key.as_bytes().map(<[u8]>::to_vec))
            .flatten();
        TrustedCert {
            subject: tbs.subject.to_string(),
            issuer: tbs.issuer.to_string(),
            serial: hex(tbs.serial_number.as_bytes()),
            subject_key_id,
            enrolled: false,
            rsa_key,
        }
    }

    /// Whether this certificate is the key a signature names. The kernel looks keys up
    /// by "issuer + serial" or by subject key id (`x509_key_preparse` sets both ids).
    pub fn matches(&self, sig: &ModuleSignature) -> bool {
        let by_serial = matches!((&sig.issuer, &sig.serial), (Some(i), Some(s)) if *i == self.issuer && *s == self.serial);
        let by_skid =
            matches!((&sig.subject_key_id, &self.subject_key_id), (Some(a), Some(b)) if a == b);
        by_serial || by_skid
    }
}

/// Scans `data` for DER-encoded X.509 certificates (`30 82 len len 30 82 ...`), as the
/// kernel's `system_certificates` blob in `.init.rodata` holds them back to back.
/// Returns them in file order, each once.
pub fn scan_certificates(data: &[u8]) -> Vec<TrustedCert> {
    let mut found: Vec<TrustedCert> = Vec::new();
    let mut pos = 0usize;
    while let Some(at) = super::find_bytes(data, &[0x30, 0x82], pos) {
        pos = at + 1;
        let (Some(&hi), Some(&lo), Some(inner)) =
            (data.get(at + 2), data.get(at + 3), data.get(at + 4..at + 6))
        else {
            break;
        };
        if inner != [0x30, 0x82] {
            continue;
        }
        let len = 4 + ((hi as usize) << 8 | lo as usize);
        let Some(candidate) = data.get(at..at + len) else {
            continue;
        };
        if let Ok(cert) = TrustedCert::from_der(candidate) {
            if !found.contains(&cert) {
                found.push(cert);
            }
            pos = at + len;
        }
    }
    found
}

/// The CN attribute of a distinguished name.
fn common_name(name: &x509_cert::name::Name) -> Option<String> {
    const CN: der::asn1::ObjectIdentifier = der::asn1::ObjectIdentifier::new_unwrap("2.5.4.3");
    for rdn in name.0.iter() {
        for atv in rdn.0.iter() {
            if atv.oid == CN {
                let bytes = atv.value.value();
                return Some(String::from_utf8_lossy(bytes).into_owned());
            }
        }
    }
    None
}

fn oid_name(oid: &der::asn1::ObjectIdentifier) -> String {
    match oid.to_string().as_str() {
        "1.3.14.3.2.26" => "sha1".into(),
        "2.16.840.1.101.3.4.2.4" => "sha224".into(),
        "2.16.840.1.101.3.4.2.1" => "sha256".into(),
        "2.16.840.1.101.3.4.2.2" => "sha384".into(),
        "2.16.840.1.101.3.4.2.3" => "sha512".into(),
        "2.16.840.1.101.3.4.2.8" => "sha3-256".into(),
        "2.16.840.1.101.3.4.2.9" => "sha3-384".into(),
        "2.16.840.1.101.3.4.2.10" => "sha3-512".into(),
        "1.2.840.113549.1.1.1" => "rsaEncryption".into(),
        "1.2.840.113549.1.1.11" => "sha256WithRSAEncryption".into(),
        "1.2.840.113549.1.1.13" => "sha512WithRSAEncryption".into(),
        "1.2.840.10045.4.3.2" => "ecdsa-with-SHA256".into(),
        "1.2.840.10045.4.3.3" => "ecdsa-with-SHA384".into(),
        "1.2.840.10045.4.3.4" => "ecdsa-with-SHA512".into(),
        other => other.to_string(),
    }
}

/// Uppercase hex with colons, as `modinfo` prints key ids and serials.
fn hex(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unsigned_is_unsigned() {
        let (elf, sig) = split_signature(b"\x7fELF....").unwrap();
        assert_eq!(elf, b"\x7fELF....");
        assert!(sig.is_none());
    }

    #[test]
    fn bogus_trailer_is_an_error() {
        let mut data = b"\x7fELF".to_vec();
        data.extend_from_slice(&[0, 0, 2, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff]);
        data.extend_from_slice(MODULE_SIG_MAGIC);
        let err = split_signature(&data).unwrap_err().to_string();
        assert!(err.contains("exceeds the file"), "{err}");
        let mut data = vec![0u8; 40];
        data.extend_from_slice(&[0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 8]);
        data.extend_from_slice(MODULE_SIG_MAGIC);
        let err = split_signature(&data).unwrap_err().to_string();
        assert!(err.starts_with("malformed PKCS#7"), "{err}");
    }
}
