//! The certificates the kernel trusts for module signatures: its built-in keyring, read
//! out of the kernel image, and the keys the user says are enrolled (`--trust-key`).

use der::Decode;
use serde::Serialize;
use x509_cert::ext::pkix::SubjectKeyIdentifier;
use x509_cert::Certificate;

use super::*;

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
    /// The public key (for [`ModuleSignature::verify_with`]).
    #[serde(skip)]
    pub(super) key: PublicKey,
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
        TrustedCert {
            subject: tbs.subject.to_string(),
            issuer: tbs.issuer.to_string(),
            serial: hex(tbs.serial_number.as_bytes()),
            subject_key_id,
            enrolled: false,
            key: public_key(&tbs.subject_public_key_info),
        }
    }

    /// The key's algorithm, for messages ("RSA", "ECDSA P-384", ...).
    pub fn key_algorithm(&self) -> String {
        match &self.key {
            PublicKey::Rsa(_) => "RSA".into(),
            PublicKey::Ec { curve, .. } => format!("ECDSA {}", curve.name()),
            PublicKey::Gost => "GOST R 34.10-2012".into(),
            PublicKey::Unusable(algorithm) => algorithm.clone(),
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

/// The key of a SubjectPublicKeyInfo, as `x509_extract_key_data()` names it.
pub(super) fn public_key(spki: &x509_cert::spki::SubjectPublicKeyInfoOwned) -> PublicKey {
    let bits = spki.subject_public_key.as_bytes().map(<[u8]>::to_vec);
    let algorithm = spki.algorithm.oid.to_string();
    match (algorithm.as_str(), bits) {
        ("1.2.840.113549.1.1.1", Some(der)) => PublicKey::Rsa(der),
        // id-ecPublicKey with a namedCurve parameter.
        ("1.2.840.10045.2.1", Some(point)) => {
            let curve = spki
                .algorithm
                .parameters
                .as_ref()
                .and_then(|p| p.decode_as::<der::asn1::ObjectIdentifier>().ok())
                .map(|oid| oid.to_string());
            match curve.as_deref().and_then(Curve::from_oid) {
                Some(curve) => PublicKey::Ec { curve, point },
                None => PublicKey::Unusable(format!(
                    "EC key on curve {}",
                    curve.as_deref().unwrap_or("(none)")
                )),
            }
        }
        ("1.2.643.7.1.1.1.1" | "1.2.643.7.1.1.1.2", Some(_)) => PublicKey::Gost,
        _ => PublicKey::Unusable(format!("key algorithm {algorithm}")),
    }
}

/// Scans `data` for DER-encoded X.509 certificates (`30 82 len len 30 82 ...`), as the
/// kernel's `system_certificates` blob in `.init.rodata` holds them back to back.
/// Returns them in file order, each once.
pub fn scan_certificates(data: &[u8]) -> Vec<TrustedCert> {
    let mut found: Vec<TrustedCert> = Vec::new();
    let mut pos = 0usize;
    while let Some(at) = crate::kmod::find_bytes(data, &[0x30, 0x82], pos) {
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
pub(super) fn common_name(name: &x509_cert::name::Name) -> Option<String> {
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

pub(super) fn oid_name(oid: &der::asn1::ObjectIdentifier) -> String {
    match oid.to_string().as_str() {
        "1.2.840.113549.1.1.1" => "rsaEncryption".into(),
        "1.2.840.113549.1.1.11" => "sha256WithRSAEncryption".into(),
        "1.2.840.113549.1.1.12" => "sha384WithRSAEncryption".into(),
        "1.2.840.113549.1.1.13" => "sha512WithRSAEncryption".into(),
        "1.2.840.113549.1.1.14" => "sha224WithRSAEncryption".into(),
        "1.2.840.113549.1.1.5" => "sha1WithRSAEncryption".into(),
        "1.2.840.10045.4.1" => "ecdsa-with-SHA1".into(),
        "1.2.840.10045.4.3.1" => "ecdsa-with-SHA224".into(),
        "1.2.840.10045.4.3.2" => "ecdsa-with-SHA256".into(),
        "1.2.840.10045.4.3.3" => "ecdsa-with-SHA384".into(),
        "1.2.840.10045.4.3.4" => "ecdsa-with-SHA512".into(),
        "2.16.840.1.101.3.4.3.10" => "ecdsa-with-SHA3-256".into(),
        "2.16.840.1.101.3.4.3.11" => "ecdsa-with-SHA3-384".into(),
        "2.16.840.1.101.3.4.3.12" => "ecdsa-with-SHA3-512".into(),
        other => other.to_string(),
    }
}

/// Uppercase hex with colons, as `modinfo` prints key ids and serials.
pub(super) fn hex(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}
