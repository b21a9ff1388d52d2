//! The appended module signature (`include/linux/module_signature.h`):
//! `[ELF][PKCS#7 DER][struct module_signature, 12 bytes]["~Module signature appended~\n"]`,
//! and X.509 certificates (the kernel's built-in trusted keys).
//!
//! [`ModuleSignature::kernel_check`] follows `mod_verify_sig()` step by step, as Linux 6.12
//! does it (crypto/asymmetric_keys/pkcs7_parser.c, pkcs7_verify.c, pkcs7_trust.c,
//! public_key.c, crypto/ecdsa.c, crypto/rsa-pkcs1pad.c, rsa.c; 6.1 is the same for RSA and
//! ECDSA over SHA-1/SHA-2, and both were checked in QEMU by tests/kmod_truth.rs):
//! 1. parsing, in SignerInfo order, stopping at the first error: a digest algorithm the
//!    parser does not name is -ENOPKG ("module with unsupported crypto"); then the
//!    authenticated attributes' own rules (S/MIME capabilities, as `openssl cms -sign`
//!    adds them, are "S/MIME Caps only allowed with Authenticode", -EKEYREJECTED; a repeat
//!    or a missing contentType/messageDigest is refused too); then a signature algorithm
//!    it does not name is -ENOPKG. RSA is `rsaEncryption` only (a `sha256WithRSAEncryption`
//!    SignerInfo is unknown to it); ECDSA is `ecdsa-with-SHA*`. SHA-3 (digests and
//!    `ecdsa-with-SHA3-*`) exists from 6.7 on.
//! 2. `pkcs7_verify()`: a module signature must be id-data without authenticated
//!    attributes, whoever signed it: "PKCS7: Invalid module sig (has authattrs)",
//!    -EKEYREJECTED. (So the messageDigest comparison never matters for modules.)
//! 3. `pkcs7_validate_trust()`: the key is looked up by issuer+serial or subject key id;
//!    none → -ENOKEY ("module with unavailable key").
//! 4. `public_key_verify_signature()`: the key's algorithm must be the signature's, the
//!    hash one the scheme takes (ECDSA: SHA-1, SHA-224, SHA-2, SHA-3; RSA PKCS#1 v1.5: the
//!    DigestInfo table of rsa-pkcs1pad), RSA keys 512..4096 bits in the sizes `rsa.c`
//!    accepts, EC keys uncompressed points. Any failure here is -EKEYREJECTED, logged only
//!    with pr_devel: fatal with or without Secure Boot.
//!
//! The cryptography is RustCrypto's (rsa, p256, p384, sha1, sha2, sha3). ECDSA is verified
//! over the digest the way `ecdsa_verify()` reads it: its first `ndigits * 8` bytes as a
//! big-endian number (for P-256 and P-384 this is the standard leftmost-bits truncation,
//! and a shorter digest is the same number left-padded). P-192 and P-521 keys, SM3 and
//! Streebog digests, which the kernel can check, are reported as not verified by remaster.

use cms::content_info::ContentInfo;
use cms::signed_data::{SignedData, SignerIdentifier};
use der::Decode;
use rsa::pkcs1::DecodeRsaPublicKey;
use serde::Serialize;

use super::KmodError;

mod certs;
use certs::{common_name, hex, oid_name};
pub use certs::{scan_certificates, TrustedCert};

/// The marker the kernel looks for at the very end of a signed module.
pub const MODULE_SIG_MAGIC: &[u8] = b"~Module signature appended~\n";
/// `sizeof(struct module_signature)`.
const MODULE_SIGNATURE_LEN: usize = 12;
/// `PKEY_ID_PKCS7`.
const PKEY_ID_PKCS7: u8 = 2;

/// A digest algorithm the kernel's PKCS#7 parser names (`pkcs7_sig_note_digest_algo`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Hash {
    Sha1,
    Sha224,
    Sha256,
    Sha384,
    Sha512,
    Sha3_256,
    Sha3_384,
    Sha3_512,
    /// SM3 and Streebog: named by the kernel, not computed by remaster.
    Other(&'static str),
}

impl Hash {
    fn from_oid(oid: &str) -> Option<Hash> {
        Some(match oid {
            "1.3.14.3.2.26" => Hash::Sha1,
            "2.16.840.1.101.3.4.2.4" => Hash::Sha224,
            "2.16.840.1.101.3.4.2.1" => Hash::Sha256,
            "2.16.840.1.101.3.4.2.2" => Hash::Sha384,
            "2.16.840.1.101.3.4.2.3" => Hash::Sha512,
            "2.16.840.1.101.3.4.2.8" => Hash::Sha3_256,
            "2.16.840.1.101.3.4.2.9" => Hash::Sha3_384,
            "2.16.840.1.101.3.4.2.10" => Hash::Sha3_512,
            "1.2.156.10197.1.401" => Hash::Other("sm3"),
            "1.2.643.7.1.1.2.2" => Hash::Other("streebog256"),
            "1.2.643.7.1.1.2.3" => Hash::Other("streebog512"),
            _ => return None,
        })
    }

    /// The kernel's name (`hash_algo`).
    fn name(self) -> &'static str {
        match self {
            Hash::Sha1 => "sha1",
            Hash::Sha224 => "sha224",
            Hash::Sha256 => "sha256",
            Hash::Sha384 => "sha384",
            Hash::Sha512 => "sha512",
            Hash::Sha3_256 => "sha3-256",
            Hash::Sha3_384 => "sha3-384",
            Hash::Sha3_512 => "sha3-512",
            Hash::Other(name) => name,
        }
    }

    fn is_sha3(self) -> bool {
        matches!(self, Hash::Sha3_256 | Hash::Sha3_384 | Hash::Sha3_512)
    }

    fn digest(self, data: &[u8]) -> Option<Vec<u8>> {
        use sha2::Digest;
        Some(match self {
            Hash::Sha1 => sha1::Sha1::digest(data).to_vec(),
            Hash::Sha224 => sha2::Sha224::digest(data).to_vec(),
            Hash::Sha256 => sha2::Sha256::digest(data).to_vec(),
            Hash::Sha384 => sha2::Sha384::digest(data).to_vec(),
            Hash::Sha512 => sha2::Sha512::digest(data).to_vec(),
            Hash::Sha3_256 => sha3::Sha3_256::digest(data).to_vec(),
            Hash::Sha3_384 => sha3::Sha3_384::digest(data).to_vec(),
            Hash::Sha3_512 => sha3::Sha3_512::digest(data).to_vec(),
            Hash::Other(_) => return None,
        })
    }

    /// RSASSA-PKCS1-v1_5 with this hash's DigestInfo (the rsa-pkcs1pad table).
    fn pkcs1v15(self) -> Option<rsa::Pkcs1v15Sign> {
        use rsa::Pkcs1v15Sign;
        Some(match self {
            Hash::Sha1 => Pkcs1v15Sign::new::<sha1::Sha1>(),
            Hash::Sha224 => Pkcs1v15Sign::new::<sha2::Sha224>(),
            Hash::Sha256 => Pkcs1v15Sign::new::<sha2::Sha256>(),
            Hash::Sha384 => Pkcs1v15Sign::new::<sha2::Sha384>(),
            Hash::Sha512 => Pkcs1v15Sign::new::<sha2::Sha512>(),
            Hash::Sha3_256 => Pkcs1v15Sign::new::<sha3::Sha3_256>(),
            Hash::Sha3_384 => Pkcs1v15Sign::new::<sha3::Sha3_384>(),
            Hash::Sha3_512 => Pkcs1v15Sign::new::<sha3::Sha3_512>(),
            Hash::Other(_) => return None,
        })
    }
}

/// The public-key algorithm of a SignerInfo (`pkcs7_sig_note_pkey_algo`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SigScheme {
    /// `rsaEncryption`: "rsa", encoding "pkcs1".
    Rsa,
    /// `ecdsa-with-*`: "ecdsa", encoding "x962" (a DER Ecdsa-Sig-Value).
    Ecdsa { sha3: bool },
    /// GOST R 34.10-2012: "ecrdsa".
    Gost,
}

impl SigScheme {
    fn from_oid(oid: &str) -> Option<SigScheme> {
        Some(match oid {
            "1.2.840.113549.1.1.1" => SigScheme::Rsa,
            // ecdsa-with-SHA1, -SHA224, -SHA256, -SHA384, -SHA512
            "1.2.840.10045.4.1"
            | "1.2.840.10045.4.3.1"
            | "1.2.840.10045.4.3.2"
            | "1.2.840.10045.4.3.3"
            | "1.2.840.10045.4.3.4" => SigScheme::Ecdsa { sha3: false },
            // id-ecdsa-with-sha3-256, -384, -512
            "2.16.840.1.101.3.4.3.10" | "2.16.840.1.101.3.4.3.11" | "2.16.840.1.101.3.4.3.12" => {
                SigScheme::Ecdsa { sha3: true }
            }
            "1.2.643.7.1.1.1.1" | "1.2.643.7.1.1.1.2" => SigScheme::Gost,
            _ => return None,
        })
    }
}

/// The NIST curves the kernel's X.509 parser names (`ecdsa-nist-p*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Curve {
    P192,
    P256,
    P384,
    P521,
}

impl Curve {
    fn from_oid(oid: &str) -> Option<Curve> {
        Some(match oid {
            "1.2.840.10045.3.1.1" => Curve::P192,
            "1.2.840.10045.3.1.7" => Curve::P256,
            "1.3.132.0.34" => Curve::P384,
            "1.3.132.0.35" => Curve::P521,
            _ => return None,
        })
    }

    fn name(self) -> &'static str {
        match self {
            Curve::P192 => "P-192",
            Curve::P256 => "P-256",
            Curve::P384 => "P-384",
            Curve::P521 => "P-521",
        }
    }

    /// `ndigits * sizeof(u64)`: how many leading digest bytes `ecdsa_verify()` uses.
    fn digest_bytes(self) -> usize {
        match self {
            Curve::P192 => 24,
            Curve::P256 => 32,
            Curve::P384 => 48,
            Curve::P521 => 72,
        }
    }
}

/// A certificate's public key, as the kernel's X.509 parser (`x509_extract_key_data`)
/// takes it.
#[derive(Debug, Clone, PartialEq, Eq)]
enum PublicKey {
    /// The RSAPublicKey DER.
    Rsa(Vec<u8>),
    /// A NIST curve and the SEC1 point.
    Ec { curve: Curve, point: Vec<u8> },
    /// A GOST key ("ecrdsa").
    Gost,
    /// Anything else (another curve, Ed25519, ...): the parser refuses the certificate
    /// (-ENOPKG), so the kernel never holds it as a key. The algorithm, for messages.
    Unusable(String),
}

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
    /// Digest algorithm of the signature, as the kernel names it (`sha256`, `sha3-384`,
    /// ...; the OID when the kernel does not know it).
    pub hash_algorithm: String,
    /// Signature algorithm (`rsaEncryption`, `ecdsa-with-SHA256`, ...).
    pub signature_algorithm: String,
    /// Length of the PKCS#7 blob.
    pub length: usize,
    #[serde(skip)]
    hash: Option<Hash>,
    #[serde(skip)]
    scheme: Option<SigScheme>,
    /// The signature value (PKCS#1 v1.5 block or DER Ecdsa-Sig-Value).
    #[serde(skip)]
    signature_value: Vec<u8>,
    /// Whether the SignerInfo carries authenticated attributes (the kernel refuses those
    /// for modules).
    #[serde(skip)]
    has_authattrs: bool,
    /// What the parser says to those attributes before that: (errno, logged line).
    #[serde(skip)]
    authattrs_refusal: Option<(i32, Option<String>)>,
    /// Whether the content type is id-data (`pkcs7_verify()` requires it for modules).
    #[serde(skip)]
    pkcs7_data: bool,
    /// Digest of the signed content (the module without its signature), with `hash`;
    /// None for a digest remaster does not compute.
    #[serde(skip)]
    content_digest: Option<Vec<u8>>,
}

/// What verifying the signature with a given key gives, as `public_key_verify_signature()`
/// decides it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cryptography {
    Valid,
    /// The kernel would return -EKEYREJECTED: the module was changed after signing, it was
    /// signed with another key than the one named, or the key cannot make this signature.
    Invalid(String),
    /// An algorithm the kernel's PKCS#7 parser does not know (-ENOPKG, "unsupported crypto").
    Unsupported(String),
    /// An algorithm the kernel checks and remaster does not (P-192, P-521, SM3, Streebog):
    /// the key match alone is reported.
    Unchecked(String),
}

/// What `mod_verify_sig()` returns for a signed module, given the keys the kernel trusts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignatureCheck<'a> {
    /// 0: the signature verifies with this trusted key.
    Valid(&'a TrustedCert),
    /// Signed by this trusted key, with an algorithm remaster does not verify.
    Unchecked(&'a TrustedCert, String),
    /// -ENOPKG: "module with unsupported crypto" (fatal only under enforcement).
    UnsupportedCrypto(String),
    /// -ENOKEY: "module with unavailable key" (fatal only under enforcement).
    UnavailableKey,
    /// -EKEYREJECTED or -EBADMSG (`errno`): fatal with or without enforcement.
    /// `kernel_message` is the line the kernel logs, if it logs one it can be told.
    Rejected {
        why: String,
        kernel_message: Option<String>,
        errno: i32,
    },
}

/// -EKEYREJECTED ("Key was rejected by service").
pub const EKEYREJECTED: i32 = -129;
/// -EBADMSG ("Bad message").
pub const EBADMSG: i32 = -74;

impl ModuleSignature {
    /// `mod_verify_sig()` for this signature on a kernel with `release` (`uname -r`) that
    /// trusts `trusted` (built-in, secondary and platform keyrings alike).
    pub fn kernel_check<'a>(
        &self,
        trusted: &'a [TrustedCert],
        release: &str,
    ) -> SignatureCheck<'a> {
        let sha3_too_new = || {
            release_before(release, (6, 7)).then(|| {
                SignatureCheck::UnsupportedCrypto(format!(
                    "Linux {release} predates SHA-3 module signatures (6.7)"
                ))
            })
        };
        // 1. The parser, in SignerInfo order: digestAlgorithm, authenticatedAttributes,
        // digestEncryptionAlgorithm. It stops at the first error.
        match self.hash {
            None => {
                return SignatureCheck::UnsupportedCrypto(format!(
                    "digest algorithm {} is unknown to the kernel",
                    self.hash_algorithm
                ))
            }
            Some(hash) if hash.is_sha3() => {
                if let Some(unsupported) = sha3_too_new() {
                    return unsupported;
                }
            }
            Some(_) => {}
        }
        if let Some((errno, line)) = &self.authattrs_refusal {
            return SignatureCheck::Rejected {
                why: format!(
                    "the kernel's PKCS#7 parser refuses the signature's authenticated \
                     attributes{}",
                    line.as_ref().map(|l| format!(" ({l})")).unwrap_or_default()
                ),
                kernel_message: line.clone(),
                errno: *errno,
            };
        }
        match self.scheme {
            None => {
                return SignatureCheck::UnsupportedCrypto(format!(
                    "signature algorithm {} is unknown to the kernel (RSA signatures must be \
                     rsaEncryption)",
                    self.signature_algorithm
                ))
            }
            Some(SigScheme::Ecdsa { sha3: true }) => {
                if let Some(unsupported) = sha3_too_new() {
                    return unsupported;
                }
            }
            Some(_) => {}
        }
        // 2. pkcs7_verify(): module signatures are id-data without authenticated attributes.
        let refused = |line: &str| {
            SignatureCheck::Rejected {
            why: format!("the kernel refuses this PKCS#7 signature on a module ({line}); sign it with the kernel's sign-file"),
            kernel_message: Some(line.to_string()),
            errno: EKEYREJECTED,
        }
        };
        if !self.pkcs7_data {
            return refused("PKCS7: Invalid module sig (not pkcs7-data)");
        }
        if self.has_authattrs {
            return refused("PKCS7: Invalid module sig (has authattrs)");
        }
        // 3. The key, by issuer+serial or subject key id, among those the kernel can hold.
        let Some(cert) = trusted
            .iter()
            .find(|c| c.matches(self) && !matches!(c.key, PublicKey::Unusable(_)))
        else {
            return SignatureCheck::UnavailableKey;
        };
        // 4. The signature itself; any failure is -EKEYREJECTED (pkcs7_validate_trust_one).
        match self.verify_with(cert) {
            Cryptography::Valid => SignatureCheck::Valid(cert),
            Cryptography::Unchecked(why) => SignatureCheck::Unchecked(cert, why),
            Cryptography::Unsupported(why) => SignatureCheck::UnsupportedCrypto(why),
            Cryptography::Invalid(why) => SignatureCheck::Rejected {
                why,
                kernel_message: None,
                errno: EKEYREJECTED,
            },
        }
    }

    /// Verifies the signature with `cert`'s key, as `public_key_verify_signature()` does.
    pub fn verify_with(&self, cert: &TrustedCert) -> Cryptography {
        let (Some(hash), Some(scheme)) = (self.hash, self.scheme) else {
            return Cryptography::Unsupported(format!(
                "{} / {} is unknown to the kernel",
                self.hash_algorithm, self.signature_algorithm
            ));
        };
        let rejected = |why: String| Cryptography::Invalid(why);
        let bad_signature = || {
            Cryptography::Invalid(format!(
                "the signature does not verify with the key of \"{}\": the module was \
                 changed after it was signed",
                cert.subject
            ))
        };
        match (&cert.key, scheme) {
            (PublicKey::Rsa(der), SigScheme::Rsa) => {
                let (Some(digest), Some(padding)) = (&self.content_digest, hash.pkcs1v15()) else {
                    // rsa-pkcs1pad has no DigestInfo for SM3/Streebog: crypto_alloc_sig fails.
                    return rejected(format!(
                        "RSA signatures over {} are not supported by the kernel",
                        hash.name()
                    ));
                };
                let Ok(key) = rsa::RsaPublicKey::from_pkcs1_der(der) else {
                    return rejected(format!(
                        "the RSA key of \"{}\" cannot be used (the kernel takes 512..4096 bits)",
                        cert.subject
                    ));
                };
                use rsa::traits::PublicKeyParts;
                if ![64, 128, 192, 256, 384, 512].contains(&key.size()) {
                    return rejected(format!(
                        "the RSA key of \"{}\" is {} bits, a size the kernel does not take",
                        cert.subject,
                        key.size() * 8
                    ));
                }
                match key.verify(padding, digest, &self.signature_value) {
                    Ok(()) => Cryptography::Valid,
                    Err(_) => bad_signature(),
                }
            }
            (PublicKey::Ec { curve, point }, SigScheme::Ecdsa { .. }) => {
                let Some(digest) = &self.content_digest else {
                    return Cryptography::Unchecked(format!(
                        "{} digests are not verified by remaster",
                        hash.name()
                    ));
                };
                match verify_ecdsa(*curve, point, digest, &self.signature_value) {
                    Some(true) => Cryptography::Valid,
                    Some(false) => bad_signature(),
                    None => Cryptography::Unchecked(format!(
                        "ECDSA {} signatures are not verified by remaster",
                        curve.name()
                    )),
                }
            }
            (PublicKey::Gost, SigScheme::Gost) => Cryptography::Unchecked(
                "GOST R 34.10-2012 signatures are not verified by remaster".into(),
            ),
            (PublicKey::Unusable(algorithm), _) => rejected(format!(
                "the key of \"{}\" ({algorithm}) is not one the kernel can use",
                cert.subject
            )),
            (_, _) => rejected(format!(
                "a {} signature cannot have been made with the key of \"{}\" ({})",
                self.signature_algorithm,
                cert.subject,
                cert.key_algorithm()
            )),
        }
    }
}

/// ECDSA verification as `ecdsa_verify()` reads the digest; None for a curve remaster does
/// not verify.
fn verify_ecdsa(curve: Curve, point: &[u8], digest: &[u8], signature: &[u8]) -> Option<bool> {
    use p384::ecdsa::signature::hazmat::PrehashVerifier;
    // `ecdsa_set_pub_key()` takes uncompressed points only.
    if point.first() != Some(&4) {
        return Some(false);
    }
    // The leading `ndigits * 8` bytes of the digest as a number, left-padded to the field
    // size: the same number the kernel builds, in the form RustCrypto takes it.
    let n = curve.digest_bytes();
    let used = digest.len().min(n);
    let mut e = vec![0u8; n - used];
    e.extend(digest.iter().take(used));
    Some(match curve {
        Curve::P256 => {
            let (Ok(key), Ok(sig)) = (
                p256::ecdsa::VerifyingKey::from_sec1_bytes(point),
                p256::ecdsa::Signature::from_der(signature),
            ) else {
                return Some(false);
            };
            key.verify_prehash(&e, &sig).is_ok()
        }
        Curve::P384 => {
            let (Ok(key), Ok(sig)) = (
                p384::ecdsa::VerifyingKey::from_sec1_bytes(point),
                p384::ecdsa::Signature::from_der(signature),
            ) else {
                return Some(false);
            };
            key.verify_prehash(&e, &sig).is_ok()
        }
        Curve::P192 | Curve::P521 => return None,
    })
}

/// Whether a `uname -r` release (`6.1.0-50-amd64`, `5.14.0-284.11.1.el9_2.x86_64`) is an
/// upstream version before `major.minor`. Distribution backports are not known; an
/// unreadable release counts as new.
fn release_before(release: &str, (major, minor): (u32, u32)) -> bool {
    let mut parts = release
        .split(|c: char| !c.is_ascii_digit())
        .map(|p| p.parse::<u32>().ok());
    match (parts.next().flatten(), parts.next().flatten()) {
        (Some(a), Some(b)) => (a, b) < (major, minor),
        _ => false,
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
    signature.content_digest = signature.hash.and_then(|h| h.digest(elf));
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
    let data_type = signed.encap_content_info.econtent_type.to_string();
    let digest_oid = signer.digest_alg.oid.to_string();
    let signature_oid = signer.signature_algorithm.oid.to_string();
    let hash = Hash::from_oid(&digest_oid);
    Ok(ModuleSignature {
        issuer,
        issuer_cn,
        serial,
        subject_key_id,
        hash_algorithm: hash.map_or(digest_oid, |h| h.name().to_string()),
        signature_algorithm: oid_name(&signer.signature_algorithm.oid),
        length: der_bytes.len(),
        hash,
        scheme: SigScheme::from_oid(&signature_oid),
        signature_value: signer.signature.as_bytes().to_vec(),
        has_authattrs: signer.signed_attrs.is_some(),
        authattrs_refusal: signer
            .signed_attrs
            .as_ref()
            .and_then(|attrs| authattrs_refusal(attrs, &data_type)),
        pkcs7_data: data_type == ID_DATA,
        content_digest: None,
    })
}

/// id-data, the content type of a module signature.
const ID_DATA: &str = "1.2.840.113549.1.7.1";

/// What `pkcs7_sig_note_authenticated_attr()` and `pkcs7_sig_note_set_of_authattrs()` say
/// to a SignerInfo's authenticated attributes in a message of content type `data_type`:
/// the first refusal as (errno, logged line), or None when they pass.
fn authattrs_refusal(
    attrs: &cms::signed_data::SignedAttributes,
    data_type: &str,
) -> Option<(i32, Option<String>)> {
    let authenticode = data_type == "1.3.6.1.4.1.311.2.1.4"; // msIndirectData
    let warn = |errno: i32, line: &str| Some((errno, Some(format!("PKCS7: {line}"))));
    let mut seen: Vec<&str> = Vec::new();
    for attr in attrs.iter() {
        let oid = attr.oid.to_string();
        let known = match oid.as_str() {
            "1.2.840.113549.1.9.3" => "contentType",
            "1.2.840.113549.1.9.5" => "signingTime",
            "1.2.840.113549.1.9.4" => "messageDigest",
            "1.2.840.113549.1.9.15" => "smimeCapabilities",
            "1.3.6.1.4.1.311.2.1.12" => "msSpOpusInfo",
            "1.3.6.1.4.1.311.2.1.11" => "msStatementType",
            _ => continue,
        };
        // The callback runs once per value: a second value is a repeat.
        for value in attr.values.iter() {
            if seen.contains(&known) {
                return warn(EKEYREJECTED, "Repeated/multivalue AuthAttrs not permitted");
            }
            seen.push(known);
            match known {
                "contentType" => {
                    let same = value
                        .decode_as::<der::asn1::ObjectIdentifier>()
                        .is_ok_and(|o| o.to_string() == data_type);
                    if !same {
                        // Logged with the kernel's internal OID numbers.
                        return Some((EBADMSG, None));
                    }
                }
                "messageDigest" if der::Tagged::tag(value) != der::Tag::OctetString => {
                    return Some((EBADMSG, None))
                }
                "smimeCapabilities" if !authenticode => {
                    return warn(EKEYREJECTED, "S/MIME Caps only allowed with Authenticode")
                }
                "msSpOpusInfo" | "msStatementType" if !authenticode => {
                    return warn(
                        EKEYREJECTED,
                        "Authenticode AuthAttrs only allowed with Authenticode",
                    )
                }
                _ => {}
            }
        }
    }
    if !seen.contains(&"contentType") || !seen.contains(&"messageDigest") {
        return warn(EBADMSG, "Missing required AuthAttr");
    }
    None
}

#[cfg(test)]
mod tests;
