//! Optional signature of an evidence bundle: an in-toto Statement (v1)
//! whose subjects are every bundle file with its SHA-256, in a DSSE
//! envelope signed with the user's ed25519 key (PKCS#8 PEM, as
//! `openssl genpkey -algorithm ed25519` writes it). The envelope is
//! `bundle.dsse.json`, beside `SHA256SUMS` and not listed in it.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{bail, Context, Result};
use base64::Engine as _;
use ed25519_dalek::pkcs8::{DecodePrivateKey, DecodePublicKey};
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};
use serde_json::json;
use sha2::{Digest, Sha256};

pub const ENVELOPE_FILE: &str = "bundle.dsse.json";
pub const PAYLOAD_TYPE: &str = "application/vnd.in-toto+json";
pub const STATEMENT_TYPE: &str = "https://in-toto.io/Statement/v1";
pub const PREDICATE_TYPE: &str = "urn:agentsight:evidence-bundle:v1";

#[derive(Serialize, Deserialize)]
pub struct Envelope {
    #[serde(rename = "payloadType")]
    pub payload_type: String,
    /// Base64 of the statement's JSON.
    pub payload: String,
    pub signatures: Vec<EnvelopeSignature>,
}

#[derive(Serialize, Deserialize)]
pub struct EnvelopeSignature {
    /// SHA-256 of the raw 32-byte public key, hex.
    pub keyid: String,
    /// Base64 of the ed25519 signature over the DSSE pre-authentication encoding.
    pub sig: String,
}

/// DSSE v1 pre-authentication encoding: what is actually signed.
fn pae(payload_type: &str, payload: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "DSSEv1 {} {} {} ",
        payload_type.len(),
        payload_type,
        payload.len()
    )
    .into_bytes();
    out.extend_from_slice(payload);
    out
}

fn key_id(key: &VerifyingKey) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

fn b64() -> base64::engine::GeneralPurpose {
    base64::engine::general_purpose::STANDARD
}

pub fn load_signing_key(path: &Path) -> Result<SigningKey> {
    let pem = std::fs::read_to_string(path)
        .with_context(|| format!("reading the signing key {}", path.display()))?;
    SigningKey::from_pkcs8_pem(&pem).map_err(|e| {
        anyhow::anyhow!(
            "{} is not an ed25519 private key in PKCS#8 PEM (`openssl genpkey -algorithm ed25519 -out key.pem`): {e}",
            path.display()
        )
    })
}

pub fn load_public_key(path: &Path) -> Result<VerifyingKey> {
    let pem = std::fs::read_to_string(path)
        .with_context(|| format!("reading the public key {}", path.display()))?;
    VerifyingKey::from_public_key_pem(&pem).map_err(|e| {
        anyhow::anyhow!(
            "{} is not an ed25519 public key in PEM (`openssl pkey -in key.pem -pubout`): {e}",
            path.display()
        )
    })
}

/// Signs `files` (relative path → SHA-256 hex) and writes the envelope
/// into `dir`.
pub fn sign(
    dir: &Path,
    key: &SigningKey,
    files: &BTreeMap<String, String>,
    predicate: serde_json::Value,
) -> Result<()> {
    let statement = json!({
        "_type": STATEMENT_TYPE,
        "subject": files.iter().map(|(name, sha)| json!({"name": name, "digest": {"sha256": sha}})).collect::<Vec<_>>(),
        "predicateType": PREDICATE_TYPE,
        "predicate": predicate,
    });
    let payload = serde_json::to_vec(&statement)?;
    let sig = key.sign(&pae(PAYLOAD_TYPE, &payload));
    let env = Envelope {
        payload_type: PAYLOAD_TYPE.to_string(),
        payload: b64().encode(&payload),
        signatures: vec![EnvelopeSignature {
            keyid: key_id(&key.verifying_key()),
            sig: b64().encode(sig.to_bytes()),
        }],
    };
    std::fs::write(dir.join(ENVELOPE_FILE), serde_json::to_vec_pretty(&env)?)?;
    Ok(())
}

/// Base64 as DSSE allows it: standard or URL-safe alphabet.
fn decode64(s: &str) -> Option<Vec<u8>> {
    b64()
        .decode(s)
        .ok()
        .or_else(|| base64::engine::general_purpose::URL_SAFE.decode(s).ok())
}

/// What the envelope says, once a signature checked out with `key`: the
/// key's id and the subjects (relative path → SHA-256 hex). Key ids in the
/// envelope are hints only: every signature is tried.
pub fn verify(dir: &Path, key: &VerifyingKey) -> Result<(String, BTreeMap<String, String>)> {
    let env: Envelope = serde_json::from_slice(
        &std::fs::read(dir.join(ENVELOPE_FILE))
            .with_context(|| format!("the bundle has no {ENVELOPE_FILE}: it is not signed"))?,
    )
    .with_context(|| format!("{ENVELOPE_FILE} is not a DSSE envelope"))?;
    if env.payload_type != PAYLOAD_TYPE {
        bail!(
            "{ENVELOPE_FILE}: payload type {} is not {PAYLOAD_TYPE}",
            env.payload_type
        );
    }
    let payload = decode64(&env.payload)
        .with_context(|| format!("{ENVELOPE_FILE}: payload is not base64"))?;
    let signed = pae(&env.payload_type, &payload);
    let id = key_id(key);
    let good = env.signatures.iter().any(|s| {
        decode64(&s.sig)
            .and_then(|b| Signature::from_slice(&b).ok())
            .is_some_and(|sig| key.verify_strict(&signed, &sig).is_ok())
    });
    if !good {
        bail!("{ENVELOPE_FILE}: no valid signature by key {id}");
    }
    let statement: serde_json::Value = serde_json::from_slice(&payload)
        .with_context(|| format!("{ENVELOPE_FILE}: payload is not JSON"))?;
    if statement["_type"] != STATEMENT_TYPE || statement["predicateType"] != PREDICATE_TYPE {
        bail!("{ENVELOPE_FILE}: not an in-toto v1 statement about an agentsight bundle");
    }
    let mut out = BTreeMap::new();
    for s in statement["subject"].as_array().into_iter().flatten() {
        if let (Some(n), Some(d)) = (s["name"].as_str(), s["digest"]["sha256"].as_str()) {
            out.insert(n.to_string(), d.to_string());
        }
    }
    Ok((id, out))
}

/// The key id of each signature in the envelope (to say who signed when no
/// public key was given).
pub fn signers(dir: &Path) -> Option<Vec<String>> {
    let env: Envelope =
        serde_json::from_slice(&std::fs::read(dir.join(ENVELOPE_FILE)).ok()?).ok()?;
    Some(env.signatures.into_iter().map(|s| s.keyid).collect())
}
