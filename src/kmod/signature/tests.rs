//! Unit tests of the signature reader and verifier: keys generated here for every curve ×
//! hash the kernel verifies, and the kernel's rules around the signature.

use super::*;
use x509_cert::Certificate;

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

// Modules signed here the way sign-file signs them (detached PKCS#7, no certificates,
// no authenticated attributes, the signer named by issuer + serial), with keys made
// for the test, checked against certificates built for the test.

use cms::cert::IssuerAndSerialNumber;
use cms::content_info::CmsVersion;
use cms::signed_data::{EncapsulatedContentInfo, SignerInfo};
use der::asn1::{Any, BitString, ObjectIdentifier, OctetString, SetOfVec};
use der::Encode;
use std::str::FromStr;
use x509_cert::name::Name;
use x509_cert::serial_number::SerialNumber;
use x509_cert::spki::{AlgorithmIdentifierOwned, SubjectPublicKeyInfoOwned};

const NEW: &str = "6.12.118+deb12-amd64";
const BODY: &[u8] = b"\x7fELF\x02\x01\x01 pretend this is a module, description=tiny";
const ISSUER: &str = "CN=remaster unit test key";

fn oid(s: &str) -> ObjectIdentifier {
    ObjectIdentifier::new_unwrap(s)
}

fn alg(o: &str, parameters: Option<Any>) -> AlgorithmIdentifierOwned {
    AlgorithmIdentifierOwned {
        oid: oid(o),
        parameters,
    }
}

fn hash_oid(hash: Hash) -> &'static str {
    match hash {
        Hash::Sha1 => "1.3.14.3.2.26",
        Hash::Sha224 => "2.16.840.1.101.3.4.2.4",
        Hash::Sha256 => "2.16.840.1.101.3.4.2.1",
        Hash::Sha384 => "2.16.840.1.101.3.4.2.2",
        Hash::Sha512 => "2.16.840.1.101.3.4.2.3",
        Hash::Sha3_256 => "2.16.840.1.101.3.4.2.8",
        Hash::Sha3_384 => "2.16.840.1.101.3.4.2.9",
        Hash::Sha3_512 => "2.16.840.1.101.3.4.2.10",
        Hash::Other(_) => unreachable!(),
    }
}

/// The ecdsa-with-* OID sign-file writes for a digest.
fn ecdsa_oid(hash: Hash) -> &'static str {
    match hash {
        Hash::Sha1 => "1.2.840.10045.4.1",
        Hash::Sha224 => "1.2.840.10045.4.3.1",
        Hash::Sha256 => "1.2.840.10045.4.3.2",
        Hash::Sha384 => "1.2.840.10045.4.3.3",
        Hash::Sha512 => "1.2.840.10045.4.3.4",
        Hash::Sha3_256 => "2.16.840.1.101.3.4.3.10",
        Hash::Sha3_384 => "2.16.840.1.101.3.4.3.11",
        Hash::Sha3_512 => "2.16.840.1.101.3.4.3.12",
        Hash::Other(_) => unreachable!(),
    }
}

/// A certificate for `ISSUER` (serial 01:02:03) with the given key.
fn cert(key_alg: AlgorithmIdentifierOwned, key: &[u8]) -> Certificate {
    use x509_cert::time::Validity;
    let name = Name::from_str(ISSUER).unwrap();
    Certificate {
        tbs_certificate: x509_cert::TbsCertificate {
            version: x509_cert::Version::V3,
            serial_number: SerialNumber::new(&[1, 2, 3]).unwrap(),
            signature: alg("1.2.840.10045.4.3.3", None),
            issuer: name.clone(),
            validity: Validity::from_now(std::time::Duration::from_secs(3600)).unwrap(),
            subject: name,
            subject_public_key_info: SubjectPublicKeyInfoOwned {
                algorithm: key_alg,
                subject_public_key: BitString::from_bytes(key).unwrap(),
            },
            issuer_unique_id: None,
            subject_unique_id: None,
            extensions: None,
        },
        signature_algorithm: alg("1.2.840.10045.4.3.3", None),
        signature: BitString::from_bytes(&[0]).unwrap(),
    }
}

fn ec_cert(curve: &str, point: &[u8]) -> TrustedCert {
    let params = Any::encode_from(&oid(curve)).unwrap();
    let der = cert(alg("1.2.840.10045.2.1", Some(params)), point)
        .to_der()
        .unwrap();
    TrustedCert::from_der(&der).unwrap()
}

/// A signed module: BODY + PKCS#7 + struct module_signature + marker.
fn signed_module(
    digest_oid: &str,
    sig_oid: &str,
    signature: &[u8],
    attrs: Option<cms::signed_data::SignedAttributes>,
) -> Vec<u8> {
    let signer = SignerInfo {
        version: CmsVersion::V1,
        sid: SignerIdentifier::IssuerAndSerialNumber(IssuerAndSerialNumber {
            issuer: Name::from_str(ISSUER).unwrap(),
            serial_number: SerialNumber::new(&[1, 2, 3]).unwrap(),
        }),
        digest_alg: alg(digest_oid, None),
        signed_attrs: attrs,
        signature_algorithm: alg(sig_oid, None),
        signature: OctetString::new(signature).unwrap(),
        unsigned_attrs: None,
    };
    let signed = SignedData {
        version: CmsVersion::V1,
        digest_algorithms: SetOfVec::try_from(vec![alg(digest_oid, None)]).unwrap(),
        encap_content_info: EncapsulatedContentInfo {
            econtent_type: oid("1.2.840.113549.1.7.1"),
            econtent: None,
        },
        certificates: None,
        crls: None,
        signer_infos: cms::signed_data::SignerInfos(SetOfVec::try_from(vec![signer]).unwrap()),
    };
    let pkcs7 = ContentInfo {
        content_type: oid("1.2.840.113549.1.7.2"),
        content: Any::encode_from(&signed).unwrap(),
    }
    .to_der()
    .unwrap();
    let mut module = BODY.to_vec();
    module.extend_from_slice(&pkcs7);
    module.extend_from_slice(&[0, 0, 2, 0, 0, 0, 0, 0]);
    module.extend_from_slice(&(pkcs7.len() as u32).to_be_bytes());
    module.extend_from_slice(MODULE_SIG_MAGIC);
    module
}

fn check(module: &[u8], certs: &[TrustedCert], release: &str) -> String {
    let (_, sig) = split_signature(module).unwrap();
    match sig.unwrap().kernel_check(certs, release) {
        SignatureCheck::Valid(_) => "valid".into(),
        SignatureCheck::Unchecked(_, why) => format!("unchecked: {why}"),
        SignatureCheck::UnsupportedCrypto(why) => format!("unsupported: {why}"),
        SignatureCheck::UnavailableKey => "unavailable key".into(),
        SignatureCheck::Rejected {
            why,
            kernel_message,
            errno,
        } => format!("rejected: {why} {kernel_message:?} {errno}"),
    }
}

/// The module with one byte of its body changed, and with the signature's last byte
/// (the end of the signature value) changed.
fn changed(module: &[u8]) -> [Vec<u8>; 2] {
    let mut body = module.to_vec();
    body[BODY.len() - 1] ^= 0x20;
    let mut signature = module.to_vec();
    let last = module.len() - MODULE_SIG_MAGIC.len() - MODULE_SIGNATURE_LEN - 1;
    signature[last] ^= 1;
    [body, signature]
}

const HASHES: [Hash; 8] = [
    Hash::Sha1,
    Hash::Sha224,
    Hash::Sha256,
    Hash::Sha384,
    Hash::Sha512,
    Hash::Sha3_256,
    Hash::Sha3_384,
    Hash::Sha3_512,
];

macro_rules! ecdsa_case {
    ($curve:ident, $curve_oid:expr, $hashes:expr) => {{
        use $curve::ecdsa::signature::hazmat::PrehashSigner;
        let key = $curve::ecdsa::SigningKey::random(&mut rand_core::OsRng);
        let point = key.verifying_key().to_encoded_point(false);
        let certs = [ec_cert($curve_oid, point.as_bytes())];
        for hash in $hashes {
            let digest = hash.digest(BODY).unwrap();
            let signature: $curve::ecdsa::Signature = key.sign_prehash(&digest).unwrap();
            let module = signed_module(
                hash_oid(hash),
                ecdsa_oid(hash),
                signature.to_der().as_bytes(),
                None,
            );
            let what = format!("{} {}", stringify!($curve), hash.name());
            assert_eq!(check(&module, &certs, NEW), "valid", "{what}");
            for bad in changed(&module) {
                let got = check(&bad, &certs, NEW);
                assert!(
                    got.starts_with("rejected: the signature does not verify"),
                    "{what}: {got}"
                );
            }
        }
    }};
}

#[test]
fn ecdsa_each_curve_and_hash_verifies_and_a_changed_byte_fails() {
    ecdsa_case!(p256, "1.2.840.10045.3.1.7", HASHES);
    // A SHA-1 digest is shorter than half of P-384's field, which RustCrypto's signer
    // refuses; the kernel would take it.
    ecdsa_case!(p384, "1.3.132.0.34", HASHES.into_iter().skip(1));
}

#[test]
fn rsa_each_hash_verifies_and_a_changed_byte_fails() {
    use rsa::traits::PublicKeyParts;
    let key = rsa::RsaPrivateKey::new(&mut rand_core::OsRng, 1024).unwrap();
    let public = rsa::pkcs1::EncodeRsaPublicKey::to_pkcs1_der(&key.to_public_key()).unwrap();
    assert_eq!(key.size(), 128);
    let rsa_alg = alg("1.2.840.113549.1.1.1", Some(Any::null()));
    let certs =
        [TrustedCert::from_der(&cert(rsa_alg, public.as_bytes()).to_der().unwrap()).unwrap()];
    for hash in HASHES {
        let digest = hash.digest(BODY).unwrap();
        // The signer's own padding table, so that a wrong one in `pkcs1v15` fails.
        use rsa::Pkcs1v15Sign as P;
        let padding = match hash {
            Hash::Sha1 => P::new::<sha1::Sha1>(),
            Hash::Sha224 => P::new::<sha2::Sha224>(),
            Hash::Sha256 => P::new::<sha2::Sha256>(),
            Hash::Sha384 => P::new::<sha2::Sha384>(),
            Hash::Sha512 => P::new::<sha2::Sha512>(),
            Hash::Sha3_256 => P::new::<sha3::Sha3_256>(),
            Hash::Sha3_384 => P::new::<sha3::Sha3_384>(),
            Hash::Sha3_512 => P::new::<sha3::Sha3_512>(),
            Hash::Other(_) => unreachable!(),
        };
        let signature = key.sign(padding, &digest).unwrap();
        let module = signed_module(hash_oid(hash), "1.2.840.113549.1.1.1", &signature, None);
        assert_eq!(check(&module, &certs, NEW), "valid", "{}", hash.name());
        for bad in changed(&module) {
            let got = check(&bad, &certs, NEW);
            assert!(
                got.starts_with("rejected: the signature does not verify"),
                "{}: {got}",
                hash.name()
            );
        }
    }
}

/// What the kernel decides before and around the cryptography.
#[test]
fn kernel_rules_around_the_signature() {
    use p384::ecdsa::signature::hazmat::PrehashSigner;
    let key = p384::ecdsa::SigningKey::random(&mut rand_core::OsRng);
    let point = key.verifying_key().to_encoded_point(false);
    let certs = [ec_cert("1.3.132.0.34", point.as_bytes())];
    let sign = |hash: Hash| -> Vec<u8> {
        let s: p384::ecdsa::Signature = key.sign_prehash(&hash.digest(BODY).unwrap()).unwrap();
        s.to_der().as_bytes().to_vec()
    };
    let sha256 = sign(Hash::Sha256);
    let good = signed_module(
        hash_oid(Hash::Sha256),
        ecdsa_oid(Hash::Sha256),
        &sha256,
        None,
    );
    assert_eq!(check(&good, &certs, NEW), "valid");
    // No trusted key by that name: -ENOKEY.
    assert_eq!(check(&good, &[], NEW), "unavailable key");
    // A key the kernel cannot hold (secp256k1) does not count as trusted.
    let k1 = [ec_cert("1.3.132.0.10", point.as_bytes())];
    assert_eq!(check(&good, &k1, NEW), "unavailable key");
    // A curve the kernel checks and remaster does not.
    let p521 = [ec_cert("1.3.132.0.35", point.as_bytes())];
    assert!(check(&good, &p521, NEW).starts_with("unchecked: ECDSA P-521"));
    // SHA-3 before 6.7: the parser does not know it.
    let sha3 = signed_module(
        hash_oid(Hash::Sha3_384),
        ecdsa_oid(Hash::Sha3_384),
        &sign(Hash::Sha3_384),
        None,
    );
    assert_eq!(check(&sha3, &certs, NEW), "valid");
    let old = check(&sha3, &certs, "6.1.0-50-amd64");
    assert!(
        old.starts_with("unsupported: Linux 6.1.0-50-amd64 predates"),
        "{old}"
    );
    // MD5, and RSA named as sha256WithRSAEncryption: unknown to the parser.
    let md5 = signed_module("1.2.840.113549.2.5", ecdsa_oid(Hash::Sha256), &sha256, None);
    assert!(
        check(&md5, &certs, NEW).starts_with("unsupported: digest algorithm 1.2.840.113549.2.5")
    );
    let rsa_named = signed_module(
        hash_oid(Hash::Sha256),
        "1.2.840.113549.1.1.11",
        &sha256,
        None,
    );
    assert!(check(&rsa_named, &certs, NEW)
        .starts_with("unsupported: signature algorithm sha256WithRSAEncryption"));
    // An RSA signature by an EC key: public_key_verify_signature() refuses it.
    let rsa_by_ec = signed_module(
        hash_oid(Hash::Sha256),
        "1.2.840.113549.1.1.1",
        &sha256,
        None,
    );
    let got = check(&rsa_by_ec, &certs, NEW);
    assert!(
        got.starts_with("rejected: a rsaEncryption signature cannot have been made"),
        "{got}"
    );
    // Authenticated attributes: refused before the key is even looked up, by the
    // parser (as `openssl cms -sign` makes them, with S/MIME capabilities; without the
    // required ones) or else by pkcs7_verify().
    let attr = |o: &str, value: Any| x509_cert::attr::Attribute {
        oid: oid(o),
        values: SetOfVec::try_from(vec![value]).unwrap(),
    };
    let content_type = attr(
        "1.2.840.113549.1.9.3",
        Any::encode_from(&oid("1.2.840.113549.1.7.1")).unwrap(),
    );
    let message_digest = attr(
        "1.2.840.113549.1.9.4",
        Any::encode_from(&OctetString::new(Hash::Sha256.digest(BODY).unwrap()).unwrap()).unwrap(),
    );
    let smime_caps = attr(
        "1.2.840.113549.1.9.15",
        Any::encode_from(&SetOfVec::<Any>::new()).unwrap(),
    );
    for (attrs, line) in [
        (
            vec![content_type.clone(), message_digest.clone()],
            "PKCS7: Invalid module sig (has authattrs)",
        ),
        (
            vec![content_type.clone(), message_digest, smime_caps],
            "PKCS7: S/MIME Caps only allowed with Authenticode",
        ),
        (vec![content_type], "PKCS7: Missing required AuthAttr"),
    ] {
        let attrs = SetOfVec::try_from(attrs).unwrap();
        let module = signed_module(
            hash_oid(Hash::Sha256),
            ecdsa_oid(Hash::Sha256),
            &sha256,
            Some(attrs),
        );
        for trusted in [&certs[..], &[]] {
            let got = check(&module, trusted, NEW);
            assert!(got.contains(&format!("Some(\"{line}\")")), "{got}");
        }
    }
}

/// `--trust-key` takes an EC certificate (PEM here) and verifies with its key.
#[test]
fn trust_key_accepts_an_ec_certificate() {
    use der::EncodePem;
    use p256::ecdsa::signature::hazmat::PrehashSigner;
    let key = p256::ecdsa::SigningKey::random(&mut rand_core::OsRng);
    let point = key.verifying_key().to_encoded_point(false);
    let params = Any::encode_from(&oid("1.2.840.10045.3.1.7")).unwrap();
    let pem = cert(alg("1.2.840.10045.2.1", Some(params)), point.as_bytes())
        .to_pem(der::pem::LineEnding::LF)
        .unwrap();
    let enrolled = TrustedCert::enrolled_from_file_bytes(pem.as_bytes()).unwrap();
    assert!(enrolled.enrolled);
    assert_eq!(enrolled.key_algorithm(), "ECDSA P-256");
    let s: p256::ecdsa::Signature = key
        .sign_prehash(&Hash::Sha512.digest(BODY).unwrap())
        .unwrap();
    let module = signed_module(
        hash_oid(Hash::Sha512),
        ecdsa_oid(Hash::Sha512),
        s.to_der().as_bytes(),
        None,
    );
    assert_eq!(check(&module, &[enrolled], NEW), "valid");
}

#[test]
fn releases_compare_as_upstream_versions() {
    assert!(release_before("6.1.0-50-amd64", (6, 7)));
    assert!(release_before("5.14.0-284.11.1.el9_2.x86_64", (6, 7)));
    assert!(!release_before("6.12.118+deb12-amd64", (6, 7)));
    assert!(!release_before("6.7", (6, 7)));
    assert!(!release_before("", (6, 7)));
}
